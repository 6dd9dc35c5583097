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

from sidebyside.lab import broker
from sidebyside.lab.layout import (
    COMPUTE_NODES,
    DEFAULT_TOPOLOGY,
    NOVA_NEEDS,
    REGION,
    SERVED_SERVICES,
    Balancer,
    ComputeNode,
    LabLayout,
    Topology,
    backend_name,
)
from sidebyside.lab.releases import release

# The settings an upgrade must carry from the old controller (see keystone.conf.j2).
TOKEN_EXPIRATION = 7200
LIST_LIMIT = 500
# What HAProxy and `lab up` ask each served API for (200 without a token).
HEALTH_PATH = {"keystone": "/v3", "glance": "/versions", "placement": "/", "nova": "/",
               "neutron": "/", "cinder": "/healthcheck", "heat": "/healthcheck",
               "horizon": "/auth/login/"}
# Where each API's endpoint is (the catalog's and clouds.yaml's), after host:port.
ENDPOINT_PATH = {"keystone": "/v3", "glance": "", "placement": "", "nova": "/v2.1",
                 "neutron": "", "cinder": "/v3/%(project_id)s", "heat": "/v1/%(project_id)s"}
# cinder-volume's backend (the stand-in, see `programs`). A volume's host is
# `<VOLUME_HOST>@<VOLUME_BACKEND>#<VOLUME_POOL>` on both sides: backend_host is set in
# the backend's section, as an operator sets it for a backend more than one
# cinder-volume manages in turn, so the new side's cinder-volume manages the old side's
# volumes once sbs carries cinder.conf. The driver names its one pool "fake".
VOLUME_BACKEND = "lab-fake"
VOLUME_HOST = "sbs-lab-volumes"
VOLUME_POOL = "fake"
# Where a side's cloud in clouds.yaml reaches an API directly, when not ENDPOINT_PATH:
# openstacksdk runs version discovery at an endpoint override without filling in its
# %(project_id)s, so cinder's is its /v3 without one (served since cinder 2023.1).
DIRECT_ENDPOINT_PATH = {"cinder": "/v3"}
# service -> (catalog service type, clouds.yaml endpoint-override key prefix)
SERVICE_TYPE = {"glance": ("image", "image"), "placement": ("placement", "placement"),
                "nova": ("compute", "compute"), "neutron": ("network", "network"),
                "cinder": ("volumev3", "block_storage"),
                "heat": ("orchestration", "orchestration")}

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("sidebyside.lab", "templates"),
    undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
    lstrip_blocks=True, autoescape=False)


@dataclass(frozen=True)
class LabSpec:
    """What a lab is made of: releases, services and topology (from `lab up` options)."""

    from_release: str = "2024.1"
    to_release: str = "2026.1"
    via: tuple[str, ...] = ()
    services: tuple[str, ...] = ("keystone", "glance", "nova")
    environment: str = "lab"
    topology: Topology = DEFAULT_TOPOLOGY

    def side_release(self, side: str) -> str:
        return self.from_release if side == "old" else self.to_release

    @property
    def releases(self) -> tuple[str, ...]:
        """Every release whose venvs the lab needs, oldest first."""
        return (self.from_release, *self.via, self.to_release)

    @property
    def served(self) -> tuple[str, ...]:
        """The services that run with their API and workers; nova only beside placement
        and neutron, else database-only."""
        return tuple(s for s in self.services if s in SERVED_SERVICES and (
            s != "nova" or all(need in self.services for need in NOVA_NEEDS)))

    @property
    def uses_broker(self) -> bool:
        """Whether the lab has RPC services, and so a vhost per side on the broker."""
        return any(s in self.services for s in ("nova", "neutron", "cinder", "heat"))

    @property
    def has_compute(self) -> bool:
        """Whether the lab runs a compute node (it does wherever nova is served)."""
        return "nova" in self.served


def _context(layout: LabLayout, side: str, service: str, release_name: str,
             controller: str | None) -> dict[str, Any]:
    topology = layout.topology
    node = topology.controller(side, controller)
    return {
        "release": release_name,
        "series": release(release_name).series,
        "controller": node.name,
        "address": node.address,
        "port": topology.port(service),
        "etc": str(layout.etc(node.dir, service)),
        "var_lib": str(layout.var_lib(node.dir, service)),
        "log_dir": str(layout.root(node.dir) / "var" / "log" / service),
        "db_host": topology.db_address(side),
        "db_port": topology.db_port,
    }


def keystone_conf(layout: LabLayout, side: str, release_name: str, *, db_password: str,
                  custom: bool, controller: str | None = None) -> str:
    """keystone.conf of one controller (the side's first by default); `custom` adds
    the settings an upgrade must carry (old side). Raises ValueError (no such
    controller)."""
    return _env.get_template("keystone.conf.j2").render(
        **_context(layout, side, "keystone", release_name, controller),
        db_password=db_password, custom=custom, token_expiration=TOKEN_EXPIRATION,
        list_limit=LIST_LIMIT)


def keystone_policy(side: str, controller: str | None = None) -> str:
    return _env.get_template("keystone-policy.yaml.j2").render(
        controller=controller or DEFAULT_TOPOLOGY.controller(side).name)


def glance_conf(layout: LabLayout, side: str, release_name: str, *, db_password: str,
                service_password: str, controller: str | None = None) -> str:
    topology = layout.topology
    return _env.get_template("glance-api.conf.j2").render(
        **_context(layout, side, "glance", release_name, controller),
        db_password=db_password, service_password=service_password,
        auth_url=f"http://{topology.vip}:{topology.port('keystone')}",
        images_dir=str(layout.glance_images))


def nova_conf(layout: LabLayout, side: str, release_name: str, *, db_password: str,
              transport: str, service_password: str = "", served: bool = False,
              cinder: bool = False, controller: str | None = None) -> str:
    """nova.conf of one controller; `served` adds what nova's API and workers need
    (keystone, placement, neutron, and `cinder` to attach volumes), else it is the
    database-only one."""
    return _env.get_template("nova.conf.j2").render(
        **_context(layout, side, "nova", release_name, controller), db_password=db_password,
        transport_url=transport, served=served, service_password=service_password,
        auth_url=vip_url(layout.topology, "keystone"), region=REGION, cinder=cinder)


def nova_compute_conf(layout: LabLayout, node: ComputeNode, release_name: str, *,
                      transport: str, service_password: str, cinder: bool = False) -> str:
    """nova.conf of one of the lab's compute nodes (old release, fake virt driver);
    `cinder`: it attaches volumes."""
    root = layout.root(node.dir)
    return _env.get_template("nova-compute.conf.j2").render(
        release=release_name, series=release(release_name).series, host=node.nova_host,
        var_lib=str(root / "var" / "lib" / "nova"), transport_url=transport,
        address=layout.topology.controller("old").address, region=REGION,
        auth_url=vip_url(layout.topology, "keystone"), service_password=service_password,
        cinder=cinder)


def service_conf(layout: LabLayout, service: str, side: str, release_name: str, *,
                 db_password: str, service_password: str, transport: str = "",
                 controller: str | None = None) -> str:
    """`<service>.conf` of one controller for placement, neutron, cinder and heat:
    their database, keystone service user, bus and the VIP's keystone."""
    return _env.get_template(f"{service}.conf.j2").render(
        **_context(layout, side, service, release_name, controller),
        db_password=db_password, service_password=service_password,
        transport_url=transport, auth_url=vip_url(layout.topology, "keystone"),
        region=REGION, vip=layout.topology.vip, volume_backend=VOLUME_BACKEND,
        volume_host=VOLUME_HOST)


def horizon_local_settings(layout: LabLayout, side: str, release_name: str, *,
                           secret_key: str, controller: str | None = None) -> str:
    """horizon's local_settings.py of one controller: keystone through the VIP, signed
    cookie sessions, offline compression into the controller's STATIC_ROOT."""
    topology = layout.topology
    node = topology.controller(side, controller)
    return _env.get_template("horizon-local_settings.py.j2").render(
        **_context(layout, side, "horizon", release_name, controller), vip=topology.vip,
        keystone_port=topology.port("keystone"), secret_key=secret_key,
        static_root=str(layout.dashboard_static(node.dir)))


def ml2_conf(layout: LabLayout, side: str, release_name: str,
             controller: str | None = None) -> str:
    return _env.get_template("ml2_conf.ini.j2").render(
        **_context(layout, side, "neutron", release_name, controller))


def vip_url(topology: Topology, service: str) -> str:
    """The service's endpoint on the VIP, as the catalog has it."""
    return f"http://{topology.vip}:{topology.port(service)}{ENDPOINT_PATH[service]}"


def dashboard_url(address: str, topology: Topology) -> str:
    """The dashboard's root at an address (the VIP, or a controller's)."""
    return f"http://{address}:{topology.port('horizon')}/"


def transport_url(layout: LabLayout, side: str, rabbit_password: str) -> str:
    """The side's bus: its own vhost on the machine's RabbitMQ (see `broker`)."""
    return broker.transport_url(layout, side, rabbit_password)


def database_url(side: str, user: str, password: str, database: str,
                 topology: Topology = DEFAULT_TOPOLOGY) -> str:
    return (f"mysql+pymysql://{user}:{password}@{topology.db_address(side)}:"
            f"{topology.db_port}/{database}")


def haproxy_cfg(layout: LabLayout, services: tuple[str, ...],
                balancer: Balancer | None = None, *,
                served: tuple[str, ...] | None = None) -> str:
    """haproxy.cfg of one HAProxy node (the first by default): a frontend on the node's
    address and a backend per service declaring every controller of both sides.

    Served services are health-checked; database-only ones are declared unchecked, so
    that the inventory's backends all exist and can be switched.
    """
    topology = layout.topology
    node = balancer or topology.balancers[0]
    backends = [{
        "service": service,
        "name": backend_name(service),
        "port": topology.port(service),
        "check_path": HEALTH_PATH[service] if service in (
            services if served is None else served) else None,
        "servers": [{"name": c.name, "address": c.address, "disabled": c.side == "new"}
                    for c in topology.all_controllers],
    } for service in services]
    return _env.get_template("haproxy.cfg.j2").render(
        pid_file=str(layout.pid_file(node.component)),
        socket=str(layout.haproxy_socket_of(node)),
        state_file=str(layout.haproxy_state_file_of(node)), vip=node.address,
        backends=backends, write_freeze_map=str(layout.haproxy_write_freeze_map_of(node)))


# In a service command of a lab with several controllers per side: replaced by sbs
# with the inventory name of the host the command runs on (see ServiceControl).
HOST_PLACEHOLDER = "{host}"


def service_command(python: str, layout: LabLayout, action: str, side: str,
                    service: str) -> str:
    """The shell command the inventory runs to start/stop/status one lab service; with
    several controllers per side it names the controller it runs on (`{host}`)."""
    argv = [python, "-m", "sidebyside.cli.lab", "service", action,
            "--state-dir", str(layout.state_dir), "--side", side]
    if layout.topology.controllers > 1:
        argv += ["--controller", HOST_PLACEHOLDER]
    return shlex.join([*argv, service])


def side_releases(spec: LabSpec, side: str) -> tuple[str, ...]:
    """The releases installed on a side: the old one, or every release the new side's
    databases pass through (fast-forward db_syncs) and the target."""
    return (spec.from_release,) if side == "old" else (*spec.via, spec.to_release)


# The machine's RabbitMQ, where both sides' vhosts are (see `broker`).
BROKER_HOST_NAME = "lab-rabbit"

# nova is database-only in the lab without placement and neutron: no placement API
# to reach and no service user, which nova-status reports as failures. The lab
# accepts exactly those two, by name, as an operator would after review.
DATABASE_ONLY_ACCEPTED: dict[str, tuple[str, ...]] = {
    "nova": ("Placement API", "Service User Token Configuration"),
}


def inventory(layout: LabLayout, spec: LabSpec, *, python: str,
              db_password_files: dict[str, Path],
              deploy: dict[str, Any] | None = None,
              compute_upgrade: dict[str, Any] | None = None) -> dict[str, Any]:
    """The lab's sbs inventory (see the inventory schema) as data; secrets by file only.

    Every controller is a local host with its own root. With several HAProxy nodes,
    each is a local host whose root holds its admin socket and server-state file, so
    `ha.haproxy` names them once, relative to the root, as on real nodes.
    """
    topology = layout.topology
    hosts: dict[str, Any] = {
        c.name: {"address": c.address, "transport": "local", "root": str(layout.root(c.dir))}
        for c in topology.all_controllers}
    if spec.uses_broker:
        hosts[BROKER_HOST_NAME] = {"address": broker.BROKER_HOST, "transport": "local"}
    if spec.has_compute:
        for compute in COMPUTE_NODES:
            hosts[compute.dir] = {"address": topology.controller("old").address,
                                  "transport": "local", "root": str(layout.root(compute.dir))}
    for node in topology.balancers:
        hosts[node.name] = {"address": node.address, "transport": "local"}
        if node.dir:
            hosts[node.name]["root"] = str(layout.balancer_root(node))

    def node_path(path: Path) -> str:
        return f"/{path.name}" if topology.haproxy_nodes > 1 else str(path)

    def side_block(side: str) -> dict[str, Any]:
        controllers = topology.side_controllers(side)
        first = controllers[0].dir  # the lab's nodes share the venvs: the first one's links
        return {
            "controllers": [c.name for c in controllers],
            "database": {"host": topology.db_address(side), "port": topology.db_port,
                         "user": "root", "password_file": str(db_password_files[side])},
            "cloud": f"lab-{side}",
            "services": {service: {
                **{action: service_command(python, layout, action, side, service)
                   for action in ("start", "stop", "status")},
                "bin_dir": str(layout.bin_dir(first)),
                "release_bin_dirs": {
                    release_name: str(layout.release_dir(first, service, release_name) / "bin")
                    for release_name in side_releases(spec, side)},
                **({"accept_check_failures": list(DATABASE_ONLY_ACCEPTED[service])}
                   if side == "new" and service in DATABASE_ONLY_ACCEPTED
                   and service not in spec.served else {}),
                # database-only in this lab: verification says so instead of failing
                **({"api": False} if service not in spec.served else {}),
                # horizon is in no catalog: where its first controller serves it
                **({"url": dashboard_url(controllers[0].address, topology)}
                   if service == "horizon" else {}),
            } for service in spec.services},
            **({"broker": {"host": BROKER_HOST_NAME, "user": broker.user(layout),
                           "password_file": str(layout.secret_file("rabbit")),
                           "vhost": broker.vhost(layout, side)}}
               if spec.uses_broker else {}),
        }

    old, new = topology.side_controllers("old"), topology.side_controllers("new")
    host_map = {o.address: n.address for o, n in zip(old, new, strict=True)}
    if topology.controllers == 1:
        # One controller a side: its root moves as well. With several, each new host's
        # root replaces the old one's by itself (config.migrate._with_roots).
        host_map[f"{layout.root(old[0].dir)}/"] = f"{layout.root(new[0].dir)}/"
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
                "nodes": [{"host": node.name,
                           "socket": node_path(layout.haproxy_socket_of(node))}
                          for node in topology.balancers],
                "state_file": node_path(layout.haproxy_state_file),
                # the lab's load logs in with good passwords only: logins stay open
                "write_freeze": {"map": node_path(layout.haproxy_write_freeze_map),
                                 "allow_token_issue": True},
                "backends": {service: {"backend": backend_name(service),
                                       "old": [c.name for c in old],
                                       "new": [c.name for c in new]}
                             for service in spec.services},
            },
            "vip_cloud": "lab-vip",
            **({"dashboard_url": dashboard_url(topology.vip, topology)}
               if "horizon" in spec.services else {}),
        },
        "clouds_yaml": str(layout.clouds_yaml),
        "host_map": host_map,
        "window": {"max_downtime": "5m"},
    }
    if spec.has_compute:
        data["computes"] = {"nodes": {node.dir: {
            "nova_host": node.nova_host, "configs": ["/etc/nova/nova.conf"],
            "services": {"nova-compute": {
                action: compute_command(python, layout, action, node)
                for action in ("start", "stop", "status")}}} for node in COMPUTE_NODES}}
        if compute_upgrade:
            data["computes"]["upgrade"] = compute_upgrade
    if deploy:
        data["deploy"] = deploy
    return data


def compute_command(python: str, layout: LabLayout, action: str, node: ComputeNode) -> str:
    """The shell command the inventory runs to start/stop/status a compute node."""
    return shlex.join([python, "-m", "sidebyside.cli.lab", "compute", action,
                       "--node", node.dir, "--state-dir", str(layout.state_dir)])


def clouds(admin_password: str, served: tuple[str, ...],
           topology: Topology = DEFAULT_TOPOLOGY) -> dict[str, Any]:
    """clouds.yaml data: the VIP, and each side's first controller reached directly.

    The catalog names the VIP, so the per-side clouds override every endpoint.
    """
    keystone_port = topology.port("keystone")

    def cloud(address: str, direct: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "auth": {"auth_url": f"http://{address}:{keystone_port}/v3",
                     "username": "admin", "password": admin_password,
                     "project_name": "admin", "user_domain_name": "Default",
                     "project_domain_name": "Default"},
            "region_name": REGION, "identity_api_version": 3, "interface": "public",
        }
        if direct:
            data["identity_endpoint_override"] = f"http://{address}:{keystone_port}/v3"
            for service in served:
                if service in SERVICE_TYPE:
                    key = SERVICE_TYPE[service][1]
                    path = DIRECT_ENDPOINT_PATH.get(service, ENDPOINT_PATH[service])
                    data[f"{key}_endpoint_override"] = (
                        f"http://{address}:{topology.port(service)}{path}")
        return data

    return {"clouds": {"lab-vip": cloud(topology.vip, False),
                       "lab-old": cloud(topology.controller("old").address, True),
                       "lab-new": cloud(topology.controller("new").address, True)}}
