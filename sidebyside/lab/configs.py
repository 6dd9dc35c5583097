"""The config tree `lab up` deploys on each controller (and `lab reset` re-deploys on
the new ones): rendered by `render`, written once; after that a file belongs to
whoever changes it (`sbs prepare` translating the old ones onto the new controller)."""

from __future__ import annotations

import shutil
from pathlib import Path

from sidebyside.lab import render
from sidebyside.lab.files import write_file
from sidebyside.lab.layout import Controller, LabLayout
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
    if "nova" in spec.services:
        write_file(layout.etc(where, "nova") / "nova.conf", render.nova_conf(
            layout, controller.side, spec.side_release(controller.side),
            db_password=passwords["nova-db"], controller=controller.name))


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
