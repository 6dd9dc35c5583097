"""The fixed API scenarios timed old vs new, and the controllers' capacity (adapter)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from openstack import exceptions as os_exc

from sidebyside.cloud.perf import Capacity, parse_meminfo
from sidebyside.cloud.smoke import endpoint_of
from sidebyside.remote.base import Host

Conn = Any


def _issue_token(conn: Conn) -> None:
    conn.session.auth.invalidate()  # otherwise keystoneauth answers from its cache
    conn.session.get_token()


def _validate_token(conn: Conn) -> None:
    token = conn.session.get_token()
    response = conn.identity.get("/auth/tokens", headers={"X-Subject-Token": token})
    os_exc.raise_from_response(response)


def _catalog(conn: Conn) -> None:
    os_exc.raise_from_response(conn.identity.get("/auth/catalog"))


# (scenario, service, call); in this order in every report
SCENARIOS: tuple[tuple[str, str, Callable[[Conn], object]], ...] = (
    ("token issue", "keystone", _issue_token),
    ("token validate", "keystone", _validate_token),
    ("show catalog", "keystone", _catalog),
    ("list projects", "keystone", lambda c: list(c.identity.projects())),
    ("list users", "keystone", lambda c: list(c.identity.users())),
    ("list roles", "keystone", lambda c: list(c.identity.roles())),
    ("list images", "glance", lambda c: list(c.image.images())),
    ("list flavors", "nova", lambda c: list(c.compute.flavors())),
    ("list servers", "nova", lambda c: list(c.compute.servers(all_projects=True))),
    ("list networks", "neutron", lambda c: list(c.network.networks())),
    ("list ports", "neutron", lambda c: list(c.network.ports())),
    ("list volumes", "cinder", lambda c: list(c.block_storage.volumes(all_projects=True))),
    ("list stacks", "heat", lambda c: list(c.orchestration.stacks())),
)


def scenario_calls(old: Conn, new: Conn, services: Sequence[str]
                   ) -> tuple[list[str], dict[str, dict[str, Callable[[], object]]]]:
    """The scenarios of the inventory's services that both sides serve, and per side
    a zero-argument call for each."""
    names: list[str] = []
    calls: dict[str, dict[str, Callable[[], object]]] = {"old": {}, "new": {}}
    for name, service, call in SCENARIOS:
        if service not in services:
            continue
        if service != "keystone" and (endpoint_of(old, service) is None
                                      or endpoint_of(new, service) is None):
            continue
        names.append(name)
        for side, conn in (("old", old), ("new", new)):
            calls[side][name] = _bound(call, conn)
    return names, calls


def _bound(call: Callable[[Conn], object], conn: Conn) -> Callable[[], object]:
    return lambda: call(conn)


def host_capacity(host: Host) -> Capacity:
    """CPU count and memory of one host; the error is kept instead of raised."""
    try:
        cpus = int(host.run(["nproc"], timeout=30).stdout.strip())
        memory = parse_meminfo(host.run(["cat", "/proc/meminfo"], timeout=30).stdout)
    except Exception as exc:  # noqa: BLE001 - capacity is informative, never blocking
        return Capacity(host.name, None, None, error=f"{type(exc).__name__}: {exc}")
    return Capacity(host.name, cpus, memory)
