"""Render the operator templates in ha/ (haproxy.cfg.j2, keepalived.conf.j2).

The templates live at the top of the repository because operators copy and adapt
them; the lab and the tests render them through these functions.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from sidebyside.errors import InputError

HA_TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "ha"


@dataclass(frozen=True)
class Server:
    name: str
    address: str
    port: int
    side: str = "old"          # old servers start ready, new ones `disabled`
    check: bool = True
    weight: int | None = None

    @property
    def disabled(self) -> bool:
        return self.side == "new"


@dataclass(frozen=True)
class Backend:
    name: str
    servers: Sequence[Server]
    check_path: str | None = None      # `option httpchk GET <path>`; None: TCP checks
    check_status: str = "200"
    check_interval: str = "2s"
    balance: str = "roundrobin"
    mode: str = "http"


@dataclass(frozen=True)
class Frontend:
    name: str
    bind: str                           # address:port
    backend: str
    mode: str = "http"


@dataclass(frozen=True)
class Timeouts:
    connect: str = "5s"
    client: str = "120s"
    server: str = "120s"
    check: str = "5s"


@dataclass(frozen=True)
class HaproxyGlobals:
    admin_socket: str = "/run/haproxy/admin.sock"
    state_file: str = "/var/lib/haproxy/server-state"
    pid_file: str | None = None
    daemon: bool = False
    user: str | None = None
    group: str | None = None
    maxconn: int = 4096
    timeouts: Timeouts = field(default_factory=Timeouts)
    # The map file of cutover's read-only window (ha.haproxy.write_freeze.map); None
    # leaves the rules out, and cutover drains and stops the old services instead.
    write_freeze_map: str | None = None
    retry_after: int = 30


def _environment(template_dir: Path) -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(template_dir)),
                              undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True, keep_trailing_newline=True,
                              autoescape=False)


def render_haproxy_cfg(frontends: Sequence[Frontend], backends: Sequence[Backend],
                       settings: HaproxyGlobals | None = None, *,
                       template_dir: Path = HA_TEMPLATE_DIR) -> str:
    """haproxy.cfg text. Raises InputError when a frontend names an undeclared backend
    or a backend has no old or no new server."""
    settings = settings or HaproxyGlobals()
    declared = {b.name for b in backends}
    for frontend in frontends:
        if frontend.backend not in declared:
            raise InputError(f"frontend {frontend.name} uses backend {frontend.backend!r}, "
                             f"which is not declared")
    for backend in backends:
        sides = {s.side for s in backend.servers}
        if not {"old", "new"} <= sides:
            raise InputError(f"backend {backend.name} must declare old and new servers "
                             f"(has: {', '.join(sorted(sides)) or 'none'})")
    return _environment(template_dir).get_template("haproxy.cfg.j2").render(
        frontends=frontends, backends=backends, admin_socket=settings.admin_socket,
        state_file=settings.state_file, pid_file=settings.pid_file, daemon=settings.daemon,
        user=settings.user, group=settings.group, maxconn=settings.maxconn,
        timeouts=settings.timeouts, write_freeze_map=settings.write_freeze_map,
        retry_after=settings.retry_after)


def render_keepalived_conf(*, instance: str, interface: str, vip: str, priority: int,
                           track_file: str, virtual_router_id: int = 51,
                           router_id: str | None = None, track_name: str = "sbs_priority",
                           track_weight: int = 1, advert_int: int = 1,
                           unicast_src_ip: str | None = None,
                           unicast_peers: Sequence[str] = (),
                           template_dir: Path = HA_TEMPLATE_DIR) -> str:
    """keepalived.conf text for one node. `vip` is address/prefix (a bare address gets
    /32). Raises InputError for a bad VIP, priority or router id."""
    try:
        interface_vip = ipaddress.ip_interface(vip if "/" in vip else f"{vip}/32")
    except ValueError as exc:
        raise InputError(f"keepalived vip {vip!r} is not an address[/prefix]") from exc
    if not 1 <= priority <= 254:
        raise InputError(f"keepalived priority {priority} outside 1..254")
    if not 1 <= virtual_router_id <= 255:
        raise InputError(f"keepalived virtual_router_id {virtual_router_id} outside 1..255")
    if unicast_peers and not unicast_src_ip:
        raise InputError("keepalived unicast_peers need unicast_src_ip")
    return _environment(template_dir).get_template("keepalived.conf.j2").render(
        instance=instance, interface=interface, vip=str(interface_vip), priority=priority,
        track_file=track_file, virtual_router_id=virtual_router_id,
        router_id=router_id or instance, track_name=track_name, track_weight=track_weight,
        advert_int=advert_int, unicast_src_ip=unicast_src_ip,
        unicast_peers=list(unicast_peers), allow_scripts=False)
