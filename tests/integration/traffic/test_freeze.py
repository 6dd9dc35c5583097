"""Cutover's read-only window on a real HAProxy: writes refused with 503, reads and
keystone's token issue still served, requests in flight waited for, a reload keeping
the freeze, and the thaw."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from sidebyside.inventory import parse_inventory
from sidebyside.plan.model import Changes, Step
from sidebyside.remote.inventory_hosts import Hosts
from sidebyside.traffic.errors import HaproxyCommandRejected, TrafficNotSettled
from sidebyside.traffic.freeze import FROZEN_EXCEPT_TOKEN_ISSUE
from tests.integration.traffic.conftest import BACKEND, HaproxyUnderTest
from tests.integration.traffic.test_actions import bound, inventory

pytestmark = pytest.mark.integration


def frozen_inventory(haproxy: HaproxyUnderTest, *, map_file: str | None = None,
                     allow_token_issue: bool = True) -> Any:
    data = inventory(haproxy).model_dump(by_alias=True, exclude_none=True)
    data["ha"]["haproxy"]["write_freeze"] = {
        "map": map_file or haproxy.write_freeze_map, "allow_token_issue": allow_token_issue}
    return parse_inventory(data)


def context(**options: Any) -> Any:
    lines: list[str] = []
    return SimpleNamespace(options=options, log=lines.append, lines=lines)


def step(action: str, **params: Any) -> Step:
    return Step(id=f"t.{action}", action=action, title=action, changes=Changes.TRAFFIC,
                service="keystone" if action == "freeze_writes" else None, params=params)


def request(haproxy: HaproxyUnderTest, method: str, path: str) -> tuple[int, str, str]:
    """(status, body, Retry-After) of one request through the frontend."""
    req = urllib.request.Request(haproxy.frontend_url + path, method=method,
                                 data=b"{}" if method in ("POST", "PUT", "PATCH") else None)
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return answer.status, answer.read().decode(), answer.headers.get("Retry-After", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers.get("Retry-After", "")


def in_flight_before_the_freeze(haproxy: HaproxyUnderTest,
                                send: Callable[[], None]) -> threading.Thread:
    """Start `send` (a slow request) in a thread; return once HAProxy shows its stream."""
    thread = threading.Thread(target=send)
    thread.start()
    node = haproxy.node()
    for _ in range(100):
        if any(s.backend == BACKEND for s in node.streams()):
            break
        threading.Event().wait(0.05)
    return thread


def actions(haproxy: HaproxyUnderTest, **kwargs: Any) -> dict[str, Any]:
    return bound(frozen_inventory(haproxy, **kwargs))


def test_freeze_refuses_writes_keeps_reads_and_token_issue_and_survives_a_reload(
        haproxy: HaproxyUnderTest) -> None:
    registry = actions(haproxy)
    assert request(haproxy, "POST", "/v3/projects")[0] == 201  # open before the freeze

    result = registry["freeze_writes"].run(step("freeze_writes"), context())
    assert result["frozen"] == FROZEN_EXCEPT_TOKEN_ISSUE

    status, body, retry_after = request(haproxy, "POST", "/v3/projects")
    assert (status, retry_after) == (503, "30")
    assert "read-only maintenance window" in body
    for method in ("PUT", "PATCH", "DELETE"):
        assert request(haproxy, method, "/v3/projects/x")[0] == 503, method
    assert request(haproxy, "DELETE", "/v3/auth/tokens")[0] == 503  # a revocation writes
    assert request(haproxy, "POST", "/v3/auth/tokens") == (201, "old POST", "")
    assert request(haproxy, "GET", "/v3/projects")[:2] == (200, "old")

    # An operator's reload in the middle of the window keeps the freeze: sbs wrote the map.
    assert BACKEND in open(haproxy.write_freeze_map).read()
    haproxy.reload()
    assert request(haproxy, "POST", "/v3/projects")[0] == 503
    assert registry["thaw_writes"].verify(step("thaw_writes", services=["keystone"]),
                                          context()) is False

    registry["thaw_writes"].run(step("thaw_writes", services=["keystone"]), context())
    assert request(haproxy, "POST", "/v3/projects")[0] == 201
    assert open(haproxy.write_freeze_map).read() == ""
    assert registry["thaw_writes"].verify(step("thaw_writes", services=["keystone"]),
                                          context()) is True
    # thawing again is a no-op, not an error ("Key not found")
    registry["thaw_writes"].run(step("thaw_writes", services=["keystone"]), context())


def test_without_token_issue_every_write_is_refused(haproxy: HaproxyUnderTest) -> None:
    registry = actions(haproxy, allow_token_issue=False)
    registry["freeze_writes"].run(step("freeze_writes"), context())
    assert request(haproxy, "POST", "/v3/auth/tokens")[0] == 503
    assert request(haproxy, "GET", "/")[0] == 200
    opener = registry["open_token_issue"]
    assert opener.verify(step("open_token_issue"), context()) is False
    # after the switch, verification through the VIP needs to log in: logins open,
    # every other write still refused
    opener.run(step("open_token_issue"), context())
    assert opener.verify(step("open_token_issue"), context()) is True
    assert request(haproxy, "POST", "/v3/auth/tokens")[0] == 201
    assert request(haproxy, "POST", "/v3/projects")[0] == 503


def test_freeze_waits_for_the_requests_in_flight_when_it_took_effect(
        haproxy: HaproxyUnderTest) -> None:
    registry = actions(haproxy)
    finished = threading.Event()

    def slow() -> None:
        request(haproxy, "GET", "/slow?seconds=3")
        finished.set()

    thread = in_flight_before_the_freeze(haproxy, slow)
    ctx = context()
    result = registry["freeze_writes"].run(step("freeze_writes"), ctx)
    assert finished.is_set(), "the freeze returned while a request from before it ran"
    assert result["in_flight_waited_s"] > 0
    assert any("still running" in line for line in ctx.lines)
    thread.join()


def test_a_request_in_flight_beyond_the_timeout_fails_the_step_naming_it(
        haproxy: HaproxyUnderTest) -> None:
    registry = actions(haproxy)
    thread = in_flight_before_the_freeze(
        haproxy, lambda: request(haproxy, "GET", "/slow?seconds=4"))
    with pytest.raises(TrafficNotSettled) as info:
        registry["freeze_writes"].run(step("freeze_writes"), context(drain_timeout=1))
    assert "before the write freeze" in info.value.message
    assert "127.0.0." in info.value.message  # the client is named
    thread.join()


def test_a_map_file_haproxy_does_not_use_is_refused(haproxy: HaproxyUnderTest) -> None:
    registry = actions(haproxy, map_file="/etc/haproxy/not-in-this-config.map")
    with pytest.raises(HaproxyCommandRejected) as info:
        registry["freeze_writes"].run(step("freeze_writes"), context())
    assert "not-in-this-config.map" in info.value.message


def haproxy_preflight(inv: Any) -> list[Any]:
    from sidebyside.upgrade.preflight import _Preflight

    hosts = Hosts(inv)
    check = _Preflight(inv, hosts, lambda line: None)
    check.haproxy()
    return check.report.results


def test_preflight_checks_backends_and_the_write_freeze_map_on_every_node(
        haproxy: HaproxyUnderTest) -> None:
    results = haproxy_preflight(frozen_inventory(haproxy))
    assert [(r.severity, r.subject) for r in results] == [("ok", "lb1")]
    assert "write-freeze map in use" in results[0].message

    missing_map = haproxy_preflight(frozen_inventory(haproxy, map_file="/etc/nope.map"))
    assert [(r.severity, r.subject) for r in missing_map] == [
        ("blocker", "lb1 write freeze")]

    # a cutover interrupted in its window: the freeze is still in force
    actions(haproxy)["freeze_writes"].run(step("freeze_writes"), context())
    frozen = haproxy_preflight(frozen_inventory(haproxy))
    assert ("warning", "lb1 write freeze") in [(r.severity, r.subject) for r in frozen]
    assert BACKEND in next(r.message for r in frozen if r.severity == "warning")

    data = frozen_inventory(haproxy).model_dump(by_alias=True, exclude_none=True)
    data["ha"]["haproxy"]["backends"]["keystone"]["new"] = ["new", "new-ctl9"]
    data["ha"]["haproxy"]["nodes"].append({"host": "old", "socket": "/nonexistent.sock"})
    undeclared = [r for r in haproxy_preflight(parse_inventory(data))
                  if r.severity == "blocker"]
    assert [r.subject for r in undeclared] == ["lb1 keystone"]
    unreachable = [r for r in haproxy_preflight(parse_inventory(data)) if r.subject == "old"]
    assert [r.severity for r in unreachable] == ["warning"]  # prepare does not need it
    assert "new-ctl9" in undeclared[0].message
