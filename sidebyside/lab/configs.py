"""The config tree `lab up` deploys on each controller (and `lab reset` re-deploys on
the new ones): rendered by `render`, written once; after that a file belongs to
whoever changes it (`sbs prepare` translating the old ones onto the new controller)."""

from __future__ import annotations

import shutil
from pathlib import Path

from sidebyside.lab import render
from sidebyside.lab.files import write_file
from sidebyside.lab.layout import COMPUTE_NODES, Controller, LabLayout
from sidebyside.lab.state import LabState


def write_side_configs(layout: LabLayout, state: LabState, side: str,
                       passwords: dict[str, str]) -> None:
    for controller in state.spec.topology.side_controllers(side):
        write_controller_configs(layout, state, controller, passwords)


def remove_side_configs(layout: LabLayout, state: LabState, side: str) -> None:
    """Every service's /etc tree on the side's controllers (keys and translated files
    included)."""
    for controller in state.spec.topology.side_controllers(side):
        for service in state.spec.services:
            etc = layout.etc(controller.dir, service)
            if etc.exists():
                shutil.rmtree(etc)


def write_controller_configs(layout: LabLayout, state: LabState, controller: Controller,
                             passwords: dict[str, str]) -> None:
    """The controller's config files and the directories its services write to. The
    old side's carry the customisations an upgrade must keep (see keystone.conf.j2)."""
    spec = state.spec
    where = controller.dir
    for service in spec.services:
        (layout.root(where) / "var" / "log" / service).mkdir(parents=True, exist_ok=True)
        layout.var_lib(where, service).mkdir(parents=True, exist_ok=True)
    if "keystone" in spec.services:
        _keystone(layout, state, controller, passwords)
    if "glance" in spec.services:
        _glance(layout, state, controller, passwords)
    side, release_name = controller.side, spec.side_release(controller.side)
    transport = render.transport_url(layout, side, passwords["rabbit"])
    for service in ("placement", "neutron", "cinder", "heat"):
        if service in spec.services:
            etc = layout.etc(where, service)
            write_file(etc / f"{service}.conf", render.service_conf(
                layout, service, side, release_name, db_password=passwords[f"{service}-db"],
                service_password=passwords[f"{service}-service"], transport=transport,
                controller=controller.name))
            if service != "placement":  # placement has no paste pipeline
                _release_file(state, service, release_name, etc, "api-paste.ini")
    if "neutron" in spec.services:
        write_file(layout.etc(where, "neutron") / "plugins" / "ml2" / "ml2_conf.ini",
                   render.ml2_conf(layout, side, release_name, controller=controller.name))
    if "nova" in spec.services:
        served = "nova" in spec.served
        etc = layout.etc(where, "nova")
        write_file(etc / "nova.conf", render.nova_conf(
            layout, side, release_name, db_password=passwords["nova-db"],
            transport=transport, service_password=passwords["nova-service"],
            served=served, cinder="cinder" in spec.served, controller=controller.name))
        if served:
            _release_file(state, "nova", release_name, etc, "api-paste.ini")
    for service in ("nova", "neutron", "cinder", "heat"):
        if service in spec.services:
            (layout.var_lib(where, service) / "lock").mkdir(parents=True, exist_ok=True)
    if "horizon" in spec.services:
        # holds SECRET_KEY: the service's only, as its package installs it
        write_file(layout.etc(where, "horizon") / "local_settings.py",
                   render.horizon_local_settings(
                       layout, side, release_name, secret_key=passwords["horizon-secret-key"],
                       controller=controller.name), mode=0o600)

def write_compute_configs(layout: LabLayout, state: LabState,
                          passwords: dict[str, str]) -> None:
    """Each compute node's nova.conf (old release, the old side's bus)."""
    for node in COMPUTE_NODES:
        root = layout.root(node.dir)
        for directory in (root / "var" / "lib" / "nova" / "lock",
                          root / "var" / "log" / "nova"):
            directory.mkdir(parents=True, exist_ok=True)
        write_file(layout.etc(node.dir, "nova") / "nova.conf", render.nova_compute_conf(
            layout, node, state.spec.from_release,
            transport=render.transport_url(layout, "old", passwords["rabbit"]),
            service_password=passwords["nova-service"],
            cinder="cinder" in state.spec.served))


def _release_file(state: LabState, service: str, release_name: str, etc: Path,
                  name: str) -> None:
    """A file the release installs under its venv's etc/<service>/ (api-paste.ini),
    put in /etc as its package would."""
    source = Path(state.venvs[service][release_name]) / "etc" / service / name
    write_file(etc / name, source.read_text(), mode=0o644)


def _keystone(layout: LabLayout, state: LabState, controller: Controller,
              passwords: dict[str, str]) -> None:
    side, custom = controller.side, controller.side == "old"
    etc = layout.etc(controller.dir, "keystone")
    write_file(etc / "keystone.conf", render.keystone_conf(
        layout, side, state.spec.side_release(side), db_password=passwords["keystone-db"],
        custom=custom, controller=controller.name))
    if custom:
        write_file(etc / "policy.yaml", render.keystone_policy(side, controller.name))


def _glance(layout: LabLayout, state: LabState, controller: Controller,
            passwords: dict[str, str]) -> None:
    side, where = controller.side, controller.dir
    release_name = state.spec.side_release(side)
    etc = layout.etc(where, "glance")
    write_file(etc / "glance-api.conf", render.glance_conf(
        layout, side, release_name, db_password=passwords["glance-db"],
        service_password=passwords["glance-service"], controller=controller.name))
    paste = Path(state.venvs["glance"][release_name]) / "etc" / "glance" / \
        "glance-api-paste.ini"
    write_file(etc / "glance-api-paste.ini", paste.read_text(), mode=0o644)
    for sub in ("staging", "tasks", "lock"):
        (layout.var_lib(where, "glance") / sub).mkdir(parents=True, exist_ok=True)
    layout.glance_images.mkdir(parents=True, exist_ok=True)
