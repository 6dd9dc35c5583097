"""The plan's traffic steps (drain, switch_traffic to new and, as rollback runs it, back
to old) bound to an inventory whose HAProxy node is the real one of the fixture."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sidebyside.actions import ActionSet
from sidebyside.engine.environment import Environment
from sidebyside.inventory import Inventory, parse_inventory
from sidebyside.plan.model import Changes, Step
from sidebyside.traffic.haproxy import parse_servers_state
from tests.integration.traffic.conftest import (
    BACKEND,
    FRONT_ADDRESS,
    SERVER_ADDRESS,
    HaproxyUnderTest,
)

pytestmark = pytest.mark.integration


def inventory(haproxy: HaproxyUnderTest) -> Any:
    def side(name: str, address: str) -> dict[str, Any]:
        return {"controllers": [name], "database": {"host": address, "port": 3306},
                "cloud": name, "services": {"keystone": {"units": ["apache2"]}}}

    return parse_inventory({
        "environment": "traffic-test", "release": {"from": "2025.1", "to": "2026.1"},
        "services": ["keystone"],
        "hosts": {"lb1": {"address": FRONT_ADDRESS, "transport": "local"},
                  "old": {"address": SERVER_ADDRESS["old"], "transport": "local"},
                  "new": {"address": SERVER_ADDRESS["new"], "transport": "local"}},
        "old": side("old", SERVER_ADDRESS["old"]), "new": side("new", SERVER_ADDRESS["new"]),
        "ha": {"haproxy": {"nodes": [{"host": "lb1", "socket": haproxy.socket}],
                           "state_file": haproxy.state_file,
                           "backends": {"keystone": {"backend": BACKEND, "old": ["old"],
                                                     "new": ["new"]}}}},
    })


def bound(inv: Inventory) -> ActionSet:
    """The registry's actions for `inv` (the traffic steps keep nothing in a state dir;
    every host is local, so none needs closing)."""
    return ActionSet(Environment(inventory=inv, state_dir=Path("unused-state-dir")))


def step(action: str, **params: Any) -> Step:
    return Step(id=f"t.{action}", action=action, title=action, changes=Changes.TRAFFIC,
                service="keystone", params=params)


def test_traffic_steps_through_the_inventory(haproxy: HaproxyUnderTest) -> None:
    actions = bound(inventory(haproxy))
    lines: list[str] = []
    ctx: Any = SimpleNamespace(log=lines.append, options={"drain_timeout": 5})
    node = haproxy.node()

    assert actions["switch_traffic"].verify(step("switch_traffic", to="new"), ctx) is False
    drained = actions["drain"].run(step("drain"), ctx)
    assert drained["haproxy"]["drained"] == ["old"]
    assert node.servers(BACKEND, ["old"])["old"].admin == "drain"
    # what reverses a drain is the rollback plan's switch to old: old servers ready
    actions["switch_traffic"].run(step("switch_traffic", to="old"), ctx)
    assert node.servers(BACKEND, ["old"])["old"].admin == "ready"

    switched = actions["switch_traffic"].run(step("switch_traffic", to="new"), ctx)
    assert switched["serving"] == "new" and switched["persisted_on"] == ["lb1"]
    assert actions["switch_traffic"].verify(step("switch_traffic", to="new"), ctx) is True
    saved = {s.server: s.admin for s in parse_servers_state(open(haproxy.state_file).read())}
    assert saved == {"old": "maint", "new": "ready"}

    # what reverses a switch to new is the rollback plan's switch to old
    actions["switch_traffic"].run(step("switch_traffic", to="old"), ctx)
    assert actions["switch_traffic"].verify(step("switch_traffic", to="old"), ctx) is True
    assert {s.server: s.admin for s in node.servers_state(BACKEND)} == {"old": "ready",
                                                                       "new": "maint"}
    assert any(f"checked directly: GET http://{SERVER_ADDRESS['new']}" in line for line in lines)
