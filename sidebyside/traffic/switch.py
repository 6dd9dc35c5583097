"""Drain and switch one service's HAProxy backend between the old and new servers.

The order is the point of this module, so its effects are passed in (a fleet of
HAProxy nodes, a direct server check, a wait function, a log) and unit tests check
the order with plain Python fakes:

  drain_old:      old -> drain; wait until no old server has a session (bounded)
  switch_to_new:  check each new server directly (a server leaving maint is UP at once
                  and gets traffic before any health check has passed); new -> ready;
                  old -> drain, wait for their sessions, old -> maint; read back every
                  node; persist the states into the server-state-file
  switch_to_old:  the same, sides swapped (rollback)

Every operation is idempotent: re-running a half-done switch finishes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from sidebyside.errors import InputError
from sidebyside.inventory import HaproxyModel
from sidebyside.traffic.errors import TrafficNotSettled
from sidebyside.traffic.haproxy import AdminState, ServerState

Side = Literal["old", "new"]
SIDES: tuple[Side, Side] = ("old", "new")


@dataclass(frozen=True)
class ServiceRoute:
    """One service's HAProxy backend and its server names per side."""

    service: str
    backend: str
    old: tuple[str, ...]
    new: tuple[str, ...]

    def servers(self, side: Side) -> tuple[str, ...]:
        return self.old if side == "old" else self.new

    def all_servers(self) -> tuple[str, ...]:
        return self.old + self.new

    def expected(self, serving: Side) -> dict[str, AdminState]:
        """server -> state once `serving` takes all the traffic."""
        other: Side = "new" if serving == "old" else "old"
        return {**{s: "maint" for s in self.servers(other)},
                **{s: "ready" for s in self.servers(serving)}}


def routes_from_inventory(model: HaproxyModel) -> dict[str, ServiceRoute]:
    return {service: ServiceRoute(service, b.backend, tuple(b.old), tuple(b.new))
            for service, b in model.backends.items()}


class Fleet(Protocol):
    """What the switch needs from the HAProxy nodes (`HaproxyFleet`)."""

    def states(self, backend: str,
               servers: Iterable[str]) -> dict[str, dict[str, ServerState]]: ...
    def set_state(self, backend: str, servers: Iterable[str], state: AdminState) -> None: ...
    def sessions(self, backend: str, servers: Iterable[str]) -> dict[str, dict[str, int]]: ...
    def confirm(self, backend: str, expected: Mapping[str, AdminState]) -> None: ...
    def persist(self) -> list[str]: ...


ServerCheck = Callable[[ServiceRoute, ServerState], str]
"""Checks one server directly before it takes traffic; returns what it found (for the
log), raises ServerCheckFailed."""

Waiter = Callable[..., tuple[bool, Any]]
"""`sidebyside.traffic.waiting.wait_until`'s signature."""


@dataclass(frozen=True)
class SwitchSettings:
    drain_timeout: float = 300.0    # in-flight requests get this long to finish
    poll_interval: float = 1.0


def open_sessions(sessions: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """Pure: `node/server` -> scur for every server that still has sessions."""
    return {f"{node}/{server}": count for node, servers in sessions.items()
            for server, count in servers.items() if count > 0}


@dataclass
class TrafficSwitch:
    fleet: Fleet
    routes: Mapping[str, ServiceRoute]
    check_server: ServerCheck
    wait: Waiter
    log: Callable[[str], None] = lambda line: None
    settings: SwitchSettings = field(default_factory=SwitchSettings)

    def route(self, service: str) -> ServiceRoute:
        """Raises InputError naming the service when the inventory has no backend for it."""
        try:
            return self.routes[service]
        except KeyError:
            raise InputError(f"no HAProxy backend for service {service!r} in "
                             f"ha.haproxy.backends") from None

    def _wait_drained(self, route: ServiceRoute, servers: tuple[str, ...]) -> float:
        started = time.monotonic()
        done, last = self.wait(
            lambda: open_sessions(self.fleet.sessions(route.backend, servers)),
            lambda still_open: not still_open,
            timeout=self.settings.drain_timeout, interval=self.settings.poll_interval,
            waiting_for=lambda still_open: (
                f"{route.service}: sessions still open on "
                + ", ".join(f"{where} ({count})" for where, count in sorted(still_open.items()))),
            on_wait=self.log)
        if not done:
            raise TrafficNotSettled(
                f"{route.service}: sessions still open on backend {route.backend} after "
                f"{self.settings.drain_timeout:.0f}s: "
                + ", ".join(f"{where} ({count})" for where, count in sorted(last.items())),
                hint="long-running requests (uploads?) are still being served; wait and "
                     "re-run, or raise the drain timeout")
        return time.monotonic() - started

    def _drain(self, route: ServiceRoute, servers: tuple[str, ...]) -> float:
        self.fleet.set_state(route.backend, servers, "drain")
        self.fleet.persist()
        self.log(f"{route.service}: {', '.join(servers)} set to drain on backend "
                 f"{route.backend}; waiting for their sessions to end")
        waited = self._wait_drained(route, servers)
        self.log(f"{route.service}: no sessions left on {', '.join(servers)} "
                 f"after {waited:.1f}s")
        return waited

    def drain_old(self, service: str) -> dict[str, Any]:
        """Old servers -> drain on every node; wait until none has a session.

        Raises TrafficNotSettled (timeout), HaproxyCommandRejected, HaproxyUnreachable.
        """
        route = self.route(service)
        self.fleet.states(route.backend, route.all_servers())  # every server declared?
        waited = self._drain(route, route.old)
        return {"service": service, "backend": route.backend, "drained": list(route.old),
                "waited_s": round(waited, 3)}

    def switch_to(self, service: str, side: Side) -> dict[str, Any]:
        """Make `side` the only one serving `service`, on every node, and persist it.

        Raises ServerCheckFailed (nothing changed), TrafficNotSettled (drain timeout or
        nodes disagreeing on read-back), HaproxyCommandRejected, HaproxyUnreachable.
        """
        route = self.route(service)
        other: Side = "new" if side == "old" else "old"
        states = self.fleet.states(route.backend, route.all_servers())
        first_node = next(iter(states.values()))
        for server in route.servers(side):
            found = self.check_server(route, first_node[server])
            self.log(f"{service}: {side} server {server} checked directly: {found}")
        self.fleet.set_state(route.backend, route.servers(side), "ready")
        self.log(f"{service}: {', '.join(route.servers(side))} ready on {route.backend}")
        still_serving = tuple(server for server in route.servers(other)
                              if any(node[server].admin != "maint"
                                     for node in states.values()))
        waited = 0.0
        if still_serving:
            waited = self._drain(route, still_serving)
        self.fleet.set_state(route.backend, route.servers(other), "maint")
        self.log(f"{service}: {', '.join(route.servers(other))} maint on {route.backend}")
        self.fleet.confirm(route.backend, route.expected(side))
        persisted = self.fleet.persist()
        if persisted:
            self.log(f"{service}: runtime states saved to the server-state-file on "
                     f"{', '.join(persisted)}")
        return {"service": service, "backend": route.backend, "serving": side,
                "ready": list(route.servers(side)), "maint": list(route.servers(other)),
                "drain_waited_s": round(waited, 3), "persisted_on": persisted}

    def switch_to_new(self, service: str) -> dict[str, Any]:
        """Cutover of one service. Raises as switch_to."""
        return self.switch_to(service, "new")

    def switch_to_old(self, service: str) -> dict[str, Any]:
        """Rollback of one service. Raises as switch_to."""
        return self.switch_to(service, "old")

    def serving(self, service: str) -> Side | None:
        """Which side every node sends the service to, or None when mixed/mid-switch.
        Raises HaproxyCommandRejected, HaproxyUnreachable."""
        route = self.route(service)
        states = self.fleet.states(route.backend, route.all_servers())
        for side in SIDES:
            expected = route.expected(side)
            if all(node[s].admin == want for node in states.values()
                   for s, want in expected.items()):
                return side
        return None
