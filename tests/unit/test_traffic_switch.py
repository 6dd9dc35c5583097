"""The order of a switch, with the HAProxy fleet, the direct check and the wait
passed in as plain Python objects."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from sidebyside.errors import InputError
from sidebyside.traffic.errors import ServerCheckFailed, TrafficNotSettled
from sidebyside.traffic.fleet import state_disagreements
from sidebyside.traffic.haproxy import AdminState, ServerState
from sidebyside.traffic.switch import (
    ServiceRoute,
    SwitchSettings,
    TrafficSwitch,
    open_sessions,
)

ROUTE = ServiceRoute("keystone", "keystone_api", old=("old1", "old2"), new=("new1",))
ADMIN_BITS = {"ready": 0, "drain": 8, "maint": 1}


def state(server: str, admin: AdminState) -> ServerState:
    return ServerState(1, ROUTE.backend, 1, server, "127.0.0.1", 2, ADMIN_BITS[admin], 1, 1,
                       6, 5000)


class FakeFleet:
    """Two nodes; records every call in order. `sessions_script` is consumed per poll."""

    def __init__(self, nodes: Iterable[str] = ("lb1", "lb2"),
                 sessions_script: list[int] | None = None,
                 lagging_node: str | None = None) -> None:
        self.admin: dict[str, dict[str, AdminState]] = {
            node: {"old1": "ready", "old2": "ready", "new1": "maint"} for node in nodes}
        self.calls: list[tuple[Any, ...]] = []
        self.sessions_script = list(sessions_script or [0])
        self.lagging_node = lagging_node

    def states(self, backend: str, servers: Iterable[str]) -> dict[str, dict[str, ServerState]]:
        self.calls.append(("states",))
        return {node: {s: state(s, admin[s]) for s in servers}
                for node, admin in self.admin.items()}

    def set_state(self, backend: str, servers: Iterable[str], new: AdminState) -> None:
        names = tuple(servers)
        self.calls.append(("set", names, new))
        for node, admin in self.admin.items():
            if node != self.lagging_node:
                admin.update({s: new for s in names})

    def sessions(self, backend: str, servers: Iterable[str]) -> dict[str, dict[str, int]]:
        count = self.sessions_script.pop(0) if len(self.sessions_script) > 1 \
            else self.sessions_script[0]
        self.calls.append(("sessions", count))
        return {"lb1": {s: count for s in servers}}

    def confirm(self, backend: str, expected: Mapping[str, AdminState]) -> None:
        self.calls.append(("confirm",))
        problems = state_disagreements(backend, self.states(backend, expected), expected)
        if problems:
            raise TrafficNotSettled("; ".join(problems))

    def persist(self) -> list[str]:
        self.calls.append(("persist",))
        return list(self.admin)


def polling_wait(probe, done, *, timeout, interval, waiting_for, on_wait=None):  # type: ignore[no-untyped-def]
    """wait_until without sleeping: `timeout` is the number of polls."""
    result = probe()
    for _ in range(int(timeout)):
        if done(result):
            return True, result
        if on_wait:
            on_wait(waiting_for(result))
        result = probe()
    return done(result), result


def make(fleet: FakeFleet, checked: list[str] | None = None, fail: str | None = None,
         log: list[str] | None = None, polls: int = 5) -> TrafficSwitch:
    def check(route: ServiceRoute, server: ServerState) -> str:
        fleet.calls.append(("check", server.server))
        if checked is not None:
            checked.append(server.server)
        if server.server == fail:
            raise ServerCheckFailed(f"{server.server} down")
        return "ok"

    return TrafficSwitch(fleet=fleet, routes={"keystone": ROUTE}, check_server=check,
                         wait=polling_wait, log=(log if log is not None else []).append,
                         settings=SwitchSettings(drain_timeout=polls, poll_interval=0))


def kinds(calls: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [c for c in calls if c[0] in ("check", "set", "confirm", "persist")]


def test_switch_to_new_order() -> None:
    fleet = FakeFleet(sessions_script=[2, 1, 0])
    result = make(fleet).switch_to_new("keystone")
    assert kinds(fleet.calls) == [
        ("check", "new1"),
        ("set", ("new1",), "ready"),
        ("set", ("old1", "old2"), "drain"),
        ("persist",),
        ("set", ("old1", "old2"), "maint"),
        ("confirm",),
        ("persist",),
    ]
    sessions_polled = [c for c in fleet.calls if c[0] == "sessions"]
    assert [c[1] for c in sessions_polled] == [2, 1, 0]
    assert result["serving"] == "new" and result["persisted_on"] == ["lb1", "lb2"]
    assert all(admin == {"old1": "maint", "old2": "maint", "new1": "ready"}
               for admin in fleet.admin.values())


def test_failed_check_changes_nothing() -> None:
    fleet = FakeFleet()
    with pytest.raises(ServerCheckFailed):
        make(fleet, fail="new1").switch_to_new("keystone")
    assert not [c for c in fleet.calls if c[0] in ("set", "persist")]


def test_switch_back_checks_old_servers_and_maints_new() -> None:
    fleet = FakeFleet()
    switch = make(fleet)
    switch.switch_to_new("keystone")
    fleet.calls.clear()
    checked: list[str] = []
    make(fleet, checked=checked).switch_to_old("keystone")
    assert checked == ["old1", "old2"]
    sets = [c for c in fleet.calls if c[0] == "set"]
    assert sets == [("set", ("old1", "old2"), "ready"), ("set", ("new1",), "drain"),
                    ("set", ("new1",), "maint")]
    assert switch.serving("keystone") == "old"


def test_rerun_after_switch_skips_drain() -> None:
    fleet = FakeFleet()
    switch = make(fleet)
    switch.switch_to_new("keystone")
    fleet.calls.clear()
    switch.switch_to_new("keystone")
    assert ("set", ("old1", "old2"), "drain") not in fleet.calls
    assert ("confirm",) in fleet.calls


def test_drain_timeout_names_sessions() -> None:
    fleet = FakeFleet(sessions_script=[3])
    log: list[str] = []
    with pytest.raises(TrafficNotSettled, match=r"lb1/old1 \(3\)"):
        make(fleet, log=log, polls=3).drain_old("keystone")
    assert sum("sessions still open" in line for line in log) == 3


def test_drain_then_rollback_switches_the_old_servers_ready_again() -> None:
    # A drained cutover that fails is undone by the rollback plan's switch to old.
    fleet = FakeFleet(sessions_script=[1, 0])
    switch = make(fleet)
    assert switch.drain_old("keystone")["drained"] == ["old1", "old2"]
    assert fleet.admin["lb2"]["old1"] == "drain"
    switch.switch_to("keystone", "old")
    assert fleet.admin["lb1"]["old2"] == "ready"
    assert switch.serving("keystone") == "old"
    fleet.admin["lb1"]["new1"] = "ready"
    assert switch.serving("keystone") is None  # both sides ready on lb1: mid-switch


def test_node_that_missed_a_command_fails_the_switch() -> None:
    fleet = FakeFleet(lagging_node="lb2")
    with pytest.raises(TrafficNotSettled, match="lb2: keystone_api/new1 is maint"):
        make(fleet).switch_to_new("keystone")


def test_unknown_service() -> None:
    with pytest.raises(InputError, match="nova"):
        make(FakeFleet()).switch_to_new("nova")


def test_expected_and_open_sessions() -> None:
    assert ROUTE.expected("new") == {"old1": "maint", "old2": "maint", "new1": "ready"}
    assert open_sessions({"lb1": {"a": 0, "b": 2}, "lb2": {"a": 1}}) == {"lb1/b": 2,
                                                                        "lb2/a": 1}
