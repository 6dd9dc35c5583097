"""Two real HAProxy nodes: a switch is done only when both agree on read-back."""

from __future__ import annotations

import pytest

from sidebyside.traffic.errors import HaproxyUnreachable, TrafficNotSettled
from sidebyside.traffic.fleet import HaproxyFleet
from sidebyside.traffic.probe import DirectHttpCheck
from sidebyside.traffic.switch import ServiceRoute, SwitchSettings, TrafficSwitch
from sidebyside.traffic.waiting import wait_until
from tests.integration.traffic.conftest import BACKEND, HaproxyFactory
from tests.integration.traffic.test_haproxy import get

pytestmark = pytest.mark.integration

ROUTE = ServiceRoute("svc", BACKEND, old=("old",), new=("new",))


def test_switch_on_every_node_and_persist_each(haproxy_factory: HaproxyFactory) -> None:
    lb1, lb2 = haproxy_factory("lb1"), haproxy_factory("lb2")
    fleet = HaproxyFleet([lb1.node("lb1"), lb2.node("lb2")],
                         state_files={"lb1": lb1.state_file, "lb2": lb2.state_file})
    switch = TrafficSwitch(fleet=fleet, routes={"svc": ROUTE},
                           check_server=DirectHttpCheck(), wait=wait_until,
                           settings=SwitchSettings(drain_timeout=5, poll_interval=0.1))
    result = switch.switch_to_new("svc")
    assert result["persisted_on"] == ["lb1", "lb2"]
    assert get(lb1.frontend_url) == (200, "new") and get(lb2.frontend_url) == (200, "new")
    for lb in (lb1, lb2):
        assert "new" in open(lb.state_file).read()

    # an operator (or a reload without the state file) puts lb2's old server back
    lb2.node("lb2").set_state(BACKEND, "old", "ready")
    assert switch.serving("svc") is None
    with pytest.raises(TrafficNotSettled, match="lb2: svc_api/old is ready, expected maint"):
        fleet.confirm(BACKEND, ROUTE.expected("new"))
    switch.switch_to_new("svc")  # re-running repairs it
    assert switch.serving("svc") == "new"


def test_a_dead_node_is_named(haproxy_factory: HaproxyFactory) -> None:
    lb1, lb2 = haproxy_factory("lb1"), haproxy_factory("lb2")
    fleet = HaproxyFleet([lb1.node("lb1"), lb2.node("lb2")])
    lb2.processes[-1].terminate()
    lb2.processes[-1].wait(10)
    switch = TrafficSwitch(fleet=fleet, routes={"svc": ROUTE},
                           check_server=DirectHttpCheck(), wait=wait_until)
    with pytest.raises(HaproxyUnreachable, match="lb2"):
        switch.switch_to_new("svc")
    assert get(lb1.frontend_url) == (200, "old")  # read-first: nothing was switched
