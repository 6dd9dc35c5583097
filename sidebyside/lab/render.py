"""Everything `lab up` writes, rendered from data: pure functions, no effects.

Service configs and haproxy.cfg come from the jinja2 templates beside this module;
the inventory and clouds.yaml are built as data and dumped as YAML.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from sidebyside.lab.layout import (
    CONTROLLER,
    DB_PORT,
    HAPROXY_HOST,
    REGION,
    SERVED_SERVICES,
    SERVICE_PORT,
    SIDE_ADDRESS,
    SIDES,
    VIP,
    LabLayout,
    backend_name,
)
from sidebyside.lab.releases import release

# The settings an upgrade must carry from the old controller (see keystone.conf.j2).
TOKEN_EXPIRATION = 7200
LIST_LIMIT = 500
# Written literally into nova_api.cell_mappings; the lab runs no broker for nova.
TRANSPORT_URL = "rabbit://guest:guest@{address}:5672/"
HEALTH_PATH = {"keystone": "/v3", "glance": "/versions"}

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("sidebyside.lab", "templates"),
    undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
    lstrip_blocks=True, autoescape=False)


@dataclass(frozen=True)
class LabSpec:
    """What a lab is made of: releases and services (from `lab up` options)."""

    from_release: str = "2024.1"
    to_release: str = "2026.1"
    via: tuple[str, ...] = ()
    services: tuple[str, ...] = ("keystone", "glance", "nova")
    environment: str = "lab"

    def side_release(self, side: str) -> str:
        return self.from_release if side == "old" else self.to_release

    @property
    def releases(self) -> tuple[str, ...]:
        """Every release whose venvs the lab needs, oldest first."""
        return (self.from_release, *self.via, self.to_release)

    @property
    def served(self) -> tuple[str, ...]:
        return tuple(s for s in self.services if s in SERVED_SERVICES)


def _context(layout: LabLayout, side: str, service: str, release_name: str) -> dict[str, Any]:
    return {
        "release": release_name,
        "series": release(release_name).series,
        "controller": CONTROLLER[side],
        "address": SIDE_ADDRESS[side],
        "port": SERVICE_PORT[service],
        "etc": str(layout.etc(side, service)),
        "var_lib": str(layout.var_lib(side, service)),
        "log_dir": str(layout.root(side) / "var" / "log" / service),
        "db_host": SIDE_ADDRESS[side],
        "db_port": DB_PORT,
    }


def keystone_conf(layout: LabLayout, side: str, release_name: str, *, db_password: str,
                  custom: bool) -> str:
    """keystone.conf; `custom` adds the settings an upgrade must carry (old side)."""
    return _env.get_template("keystone.conf.j2").render(
        **_context(layout, side, "keystone", release_name), db_password=db_password,
        custom=custom, token_expiration=TOKEN_EXPIRATION, list_limit=LIST_LIMIT)


def keystone_policy(side: str) -> str:
    return _env.get_template("keystone-policy.yaml.j2").render(controller=CONTROLLER[side])


def glance_conf(layout: LabLayout, side: str, release_name: str, *, db_password: str,
                service_password: str) -> str:
    return _env.get_template("glance-api.conf.j2").render(
        **_context(layout, side, "glance", release_name), db_password=db_password,
        service_password=service_password, auth_url=f"http://{VIP}:{SERVICE_PORT['keystone']}",
        images_dir=str(layout.glance_images))


def nova_conf(layout: LabLayout, side: str, release_name: str, *, db_password: str) -> str:
    return _env.get_template("nova.conf.j2").render(
        **_context(layout, side, "nova", release_name), db_password=db_password,
        transport_url=transport_url(side))


def transport_url(side: str) -> str:
    return TRANSPORT_URL.format(address=SIDE_ADDRESS[side])


def database_url(side: str, user: str, password: str, database: str) -> str:
    return f"mysql+pymysql://{user}:{password}@{SIDE_ADDRESS[side]}:{DB_PORT}/{database}"


def haproxy_cfg(layout: LabLayout, services: tuple[str, ...]) -> str:
    """haproxy.cfg with a VIP frontend and an old+new backend per service.

    Served services are health-checked; database-only ones are declared unchecked, so
    that the inventory's backends all exist and can be switched.
    """
    backends = [{
        "service": service,
        "name": backend_name(service),
        "port": SERVICE_PORT[service],
        "check_path": HEALTH_PATH.get(service),
        "servers": [{"name": CONTROLLER[side], "address": SIDE_ADDRESS[side],
                     "disabled": side == "new"} for side in SIDES],
    } for service in services]
    return _env.get_template("haproxy.cfg.j2").render(
        pid_file=str(layout.pid_file("haproxy")), socket=str(layout.haproxy_socket),
        state_file=str(layout.haproxy_state_file), vip=VIP, backends=backends,
        write_freeze_map=str(layout.haproxy_write_freeze_map))


def service_command(python: str, layout: LabLayout, action: str, side: str,
                    service: str) -> str:
    """The shell command the inventory runs to start/stop/status one lab service."""
    return shlex.join([python, "-m", "sidebyside.cli.lab", "service", action,
                       "--state-dir", str(layout.state_dir), "--side", side, service])


def side_releases(spec: LabSpec, side: str) -> tuple[str, ...]:
    """The releases installed on a side: the old one, or every release the new side's
    databases pass through (fast-forward db_syncs) and the target."""
    return (spec.from_release,) if side == "old" else (*spec.via, spec.to_release)


# nova is database-only in the lab: no placement API to reach and no service user,
# which nova-status reports as failures. The lab accepts exactly those two, by name,
# as an operator would after review.
DATABASE_ONLY_ACCEPTED: dict[str, tuple[str, ...]] = {
    "nova": ("Placement API", "Service User Token Configuration"),
}


def inventory(layout: LabLayout, spec: LabSpec, *, python: str,
              db_password_files: dict[str, Path],
              deploy: dict[str, Any] | None = None) -> dict[str, Any]:
    """The lab's sbs inventory (see the inventory schema) as data; secrets by file only."""
    hosts: dict[str, Any] = {
        CONTROLLER[side]: {"address": SIDE_ADDRESS[side], "transport": "local",
                           "root": str(layout.root(side))} for side in SIDES}
    hosts[HAPROXY_HOST] = {"address": VIP, "transport": "local"}

    def side_block(side: str) -> dict[str, Any]:
        return {
            "controllers": [CONTROLLER[side]],
            "database": {"host": SIDE_ADDRESS[side], "port": DB_PORT, "user": "root",
                         "password_file": str(db_password_files[side])},
            "cloud": f"lab-{side}",
            "services": {service: {
                **{action: service_command(python, layout, action, side, service)
                   for action in ("start", "stop", "status")},
                "bin_dir": str(layout.bin_dir(side)),
                "release_bin_dirs": {
                    release_name: str(layout.release_dir(side, service, release_name) / "bin")
                    for release_name in side_releases(spec, side)},
                **({"accept_check_failures": list(DATABASE_ONLY_ACCEPTED[service])}
                   if side == "new" and service in DATABASE_ONLY_ACCEPTED else {}),
            } for service in spec.services},
        }

    release_block: dict[str, Any] = {"from": spec.from_release, "to": spec.to_release}
    if spec.via:
        release_block["via"] = list(spec.via)
    # Every service needs a backend in the inventory; database-only ones get one on the
    # VIP too, so that the lab looks like a cloud where they are served.
    data: dict[str, Any] = {
        "environment": spec.environment,
        "release": release_block,
        "services": list(spec.services),
        "hosts": hosts,
        "old": side_block("old"),
        "new": side_block("new"),
        "ha": {
            "haproxy": {
                "nodes": [{"host": HAPROXY_HOST, "socket": str(layout.haproxy_socket)}],
                "state_file": str(layout.haproxy_state_file),
                # the lab's load logs in with good passwords only: logins stay open
                "write_freeze": {"map": str(layout.haproxy_write_freeze_map),
                                 "allow_token_issue": True},
                "backends": {service: {"backend": backend_name(service),
                                       "old": [CONTROLLER["old"]], "new": [CONTROLLER["new"]]}
                             for service in spec.services},
            },
            "vip_cloud": "lab-vip",
        },
        "clouds_yaml": str(layout.clouds_yaml),
        "host_map": {SIDE_ADDRESS["old"]: SIDE_ADDRESS["new"],
                     f"{layout.root('old')}/": f"{layout.root('new')}/"},
        "window": {"max_downtime": "5m"},
    }
    if deploy:
        data["deploy"] = deploy
    return data


def clouds(admin_password: str, served: tuple[str, ...]) -> dict[str, Any]:
    """clouds.yaml data: the VIP, and each controller reached directly.

    The catalog names the VIP, so the per-side clouds override every endpoint.
    """
    def cloud(address: str, direct: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "auth": {"auth_url": f"http://{address}:{SERVICE_PORT['keystone']}/v3",
                     "username": "admin", "password": admin_password,
                     "project_name": "admin", "user_domain_name": "Default",
                     "project_domain_name": "Default"},
            "region_name": REGION, "identity_api_version": 3, "interface": "public",
        }
        if direct:
            data["identity_endpoint_override"] = f"http://{address}:{SERVICE_PORT['keystone']}/v3"
            if "glance" in served:
                data["image_endpoint_override"] = f"http://{address}:{SERVICE_PORT['glance']}"
        return data

    return {"clouds": {"lab-vip": cloud(VIP, False),
                       "lab-old": cloud(SIDE_ADDRESS["old"], True),
                       "lab-new": cloud(SIDE_ADDRESS["new"], True)}}
