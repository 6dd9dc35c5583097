"""The runtime API client and the switch against a real HAProxy."""

from __future__ import annotations

import http.client
import threading
import time
from urllib.parse import urlsplit

import pytest

from sidebyside.remote.local import LocalHost
from sidebyside.traffic.errors import HaproxyCommandRejected, HaproxyUnreachable, ServerCheckFailed
from sidebyside.traffic.haproxy import HaproxyNode, HostRelayChannel, parse_servers_state
from sidebyside.traffic.loadgen import run_load
from sidebyside.traffic.probe import DirectHttpCheck
from sidebyside.traffic.switch import ServiceRoute, SwitchSettings, TrafficSwitch
from sidebyside.traffic.waiting import wait_until
from tests.integration.traffic.conftest import BACKEND, HaproxyUnderTest, NamedServer

pytestmark = pytest.mark.integration

ROUTE = ServiceRoute("svc", BACKEND, old=("old",), new=("new",))


def switch_for(haproxy: HaproxyUnderTest, lines: list[str], *,
               drain_timeout: float = 10.0) -> TrafficSwitch:
    return TrafficSwitch(fleet=haproxy.fleet(), routes={"svc": ROUTE},
                         check_server=DirectHttpCheck(timeout=2), wait=wait_until,
                         log=lines.append,
                         settings=SwitchSettings(drain_timeout=drain_timeout,
                                                 poll_interval=0.1))


def get(url: str, path: str = "/", timeout: float = 10) -> tuple[int, str]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_reads_states_and_stats(haproxy: HaproxyUnderTest) -> None:
    node = haproxy.node()
    states = node.servers(BACKEND, ["old", "new"])
    assert states["old"].admin == "ready"
    assert states["new"].admin == "maint"  # declared `disabled`
    assert states["old"].health_checked
    rows = {(r.proxy, r.name): r for r in node.stat()}
    assert rows[(BACKEND, "new")].status == "MAINT"
    assert get(haproxy.frontend_url) == (200, "old")


def test_relay_channel_speaks_to_the_same_socket(haproxy: HaproxyUnderTest) -> None:
    relayed = HaproxyNode("lb1", HostRelayChannel(LocalHost("lb1"), haproxy.socket))
    assert relayed.servers_state(BACKEND) == haproxy.node().servers_state(BACKEND)
    relayed.set_weight(BACKEND, "old", 7)
    assert haproxy.node().servers(BACKEND, ["old"])["old"].user_weight == 7


def test_unknown_server_and_backend_are_named(haproxy: HaproxyUnderTest) -> None:
    node = haproxy.node("lb-a")
    with pytest.raises(HaproxyCommandRejected) as caught:
        node.set_state(BACKEND, "ghost", "drain")
    message = str(caught.value)
    assert "lb-a" in message and BACKEND in message and "ghost" in message
    assert "No such server" in message
    with pytest.raises(HaproxyCommandRejected, match="nope_api"):
        node.servers_state("nope_api")
    switch = TrafficSwitch(fleet=haproxy.fleet("lb-a"),
                           routes={"svc": ServiceRoute("svc", BACKEND, ("old",), ("ghost",))},
                           check_server=DirectHttpCheck(), wait=wait_until)
    with pytest.raises(HaproxyCommandRejected, match="ghost"):
        switch.switch_to_new("svc")
    assert get(haproxy.frontend_url) == (200, "old")  # nothing changed


def test_unreachable_socket_is_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    node = HaproxyNode.on_host(LocalHost("lb-z"), str(tmp_path / "none.sock"))
    with pytest.raises(HaproxyUnreachable, match="lb-z"):
        node.stat()


def test_switch_under_load_fails_nothing_and_ends_on_new(haproxy: HaproxyUnderTest) -> None:
    lines: list[str] = []
    switch = switch_for(haproxy, lines)
    stop = threading.Event()
    outcome: dict[str, object] = {}

    def load() -> None:
        outcome["result"] = run_load(haproxy.frontend_url, rate=100, max_requests=600,
                                     max_seconds=8, stop=stop, timeout=5)

    worker = threading.Thread(target=load)
    worker.start()
    time.sleep(1.0)
    summary = switch.switch_to_new("svc")
    time.sleep(1.0)
    stop.set()
    worker.join(15)
    result = outcome["result"]
    assert result.records, "the load generator sent nothing"  # type: ignore[attr-defined]
    assert result.failures == []  # type: ignore[attr-defined]
    bodies = [r.body for r in result.records]  # type: ignore[attr-defined]
    assert bodies[0] == "old"
    assert set(bodies[-20:]) == {"new"}
    assert summary["serving"] == "new"
    assert switch.serving("svc") == "new"
    assert any("checked directly: GET" in line for line in lines)


def test_new_server_checked_before_traffic(haproxy: HaproxyUnderTest,
                                           backend_servers: dict[str, NamedServer]) -> None:
    backend_servers["new"].shutdown()
    backend_servers["new"].server_close()
    switch = switch_for(haproxy, [])
    with pytest.raises(ServerCheckFailed, match="new"):
        switch.switch_to_new("svc")
    assert haproxy.node().servers(BACKEND, ["new"])["new"].admin == "maint"
    assert get(haproxy.frontend_url) == (200, "old")


def test_drain_waits_for_long_request(haproxy: HaproxyUnderTest) -> None:
    lines: list[str] = []
    switch = switch_for(haproxy, lines)
    answers: list[tuple[int, str]] = []
    slow = threading.Thread(target=lambda: answers.append(
        get(haproxy.frontend_url, "/slow?seconds=1.5")))
    slow.start()
    wait_for_sessions = time.monotonic() + 5
    while haproxy.node().current_sessions(BACKEND, ["old"])["old"] == 0:
        assert time.monotonic() < wait_for_sessions, "the slow request never reached old"
        time.sleep(0.02)
    started = time.monotonic()
    result = switch.drain_old("svc")
    elapsed = time.monotonic() - started
    slow.join(10)
    assert answers == [(200, "old")]  # the in-flight request finished on the old server
    assert elapsed >= 0.5 and result["waited_s"] >= 0.5
    assert haproxy.node().current_sessions(BACKEND, ["old"])["old"] == 0
    assert haproxy.node().servers(BACKEND, ["old"])["old"].admin == "drain"
    assert any("sessions still open on lb1/old" in line for line in lines)


def test_drain_timeout_names_what_is_still_open(haproxy: HaproxyUnderTest) -> None:
    from sidebyside.traffic.errors import TrafficNotSettled

    switch = switch_for(haproxy, [], drain_timeout=0.5)
    slow = threading.Thread(target=lambda: get(haproxy.frontend_url, "/slow?seconds=2"))
    slow.start()
    deadline = time.monotonic() + 5
    while haproxy.node().current_sessions(BACKEND, ["old"])["old"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    with pytest.raises(TrafficNotSettled, match=r"lb1/old \(1\)"):
        switch.drain_old("svc")
    slow.join(10)


def test_switched_state_survives_reload(haproxy: HaproxyUnderTest) -> None:
    switch = switch_for(haproxy, [])
    switch.switch_to_new("svc")
    saved = parse_servers_state(open(haproxy.state_file).read())
    assert {s.server: s.admin for s in saved if s.backend == BACKEND} == \
        {"old": "maint", "new": "ready"}
    first_pid = haproxy.pid
    haproxy.reload()
    assert haproxy.pid != first_pid
    assert switch.serving("svc") == "new"
    assert get(haproxy.frontend_url) == (200, "new")
    # and back: rollback is persisted the same way
    switch.switch_to_old("svc")
    haproxy.reload()
    assert switch.serving("svc") == "old"
    assert get(haproxy.frontend_url) == (200, "old")


def test_without_saved_state_a_reload_reverts(haproxy: HaproxyUnderTest) -> None:
    """Why persisting matters: the runtime switch alone is lost on reload."""
    node = haproxy.node()
    node.set_state(BACKEND, "new", "ready")
    node.set_state(BACKEND, "old", "maint")
    assert get(haproxy.frontend_url) == (200, "new")
    haproxy.reload()
    assert node.servers(BACKEND, ["old"])["old"].admin == "ready"
    assert get(haproxy.frontend_url) == (200, "old")


def test_bench_script_writes_records(haproxy: HaproxyUnderTest, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[3] / "scripts" / "bench_cutover_load.py"
    out = tmp_path / "load.json"
    finished = subprocess.run(
        [sys.executable, str(script), "--url", haproxy.frontend_url, "--rate", "40",
         "--max-requests", "20", "--max-seconds", "10", "--out", str(out)],
        capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0, finished.stderr
    data = json.loads(out.read_text())
    assert data["summary"]["requests"] == 20 and data["summary"]["failed"] == 0
    assert data["summary"]["stopped_by"] == "max_requests"
    assert {r["body"] for r in data["records"]} == {"old"}
    assert all(r["status"] == 200 and r["duration"] > 0 for r in data["records"])
