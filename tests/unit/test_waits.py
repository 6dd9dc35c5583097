"""Every wait of a run is set by the inventory's window, and the estimate uses the same
numbers (issue 15, section 4). Pure: hosts are recording fakes, nothing is contacted."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sidebyside.actions import ActionContext, ActionSet
from sidebyside.actions import traffic as traffic_actions_module
from sidebyside.actions.service_control import StopServiceAction
from sidebyside.engine.environment import Environment
from sidebyside.inventory import Inventory, parse_inventory
from sidebyside.plan import build_plan
from sidebyside.plan.estimate import estimate_window
from sidebyside.remote.base import CommandResult
from tests.conftest import example_inventory

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

WINDOW = {"max_downtime": "30m", "drain_timeout": "77s", "queue_timeout": "41s",
          "vip_timeout": "13s", "service_timeout": "222s", "ssh_connect_timeout": 4,
          "ssh_server_alive_interval": 6}


def inventory(window: dict[str, Any] | None = None, *, broker: bool = False,
              freeze: bool = True) -> Inventory:
    data = example_inventory("minimal.yaml")
    data["window"] = copy.deepcopy(window or WINDOW)
    if freeze:
        data["ha"]["haproxy"]["write_freeze"] = {"map": "/etc/haproxy/sbs-freeze.map"}
    data["ha"]["keepalived"] = {"instance": "VI_1", "vip": "10.0.0.10/24",
                                "old": ["old-ctl1"], "new": ["new-ctl1"]}
    if broker:
        data["old"]["broker"] = {"host": "old-ctl1"}
    return parse_inventory(data)


class RecordingHost:
    """A Host stand-in that records each command's timeout and succeeds."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.timeouts: list[float] = []

    def run(self, argv: list[str], *, timeout: float = 600.0, **_: Any) -> CommandResult:
        self.timeouts.append(timeout)
        return CommandResult(host=self.name, argv=tuple(argv), returncode=0, stdout="",
                             stderr="", duration=0.0)


def context(**options: Any) -> Any:
    return SimpleNamespace(log=lambda line: None, options=options)


def test_the_window_defaults_are_the_documented_ones() -> None:
    window = inventory({"max_downtime": "30m"}).window
    assert (window.drain_timeout, window.queue_timeout, window.vip_timeout) == (120, 120, 30)
    assert (window.ssh_connect_timeout, window.ssh_server_alive_interval) == (10, 15)
    assert window.service_timeout == 300


def actions(inv: Inventory) -> Any:
    """The registry's actions, on recording hosts."""
    return ActionSet(Environment(inventory=inv, state_dir=Path("unused")), hosts=RecordingHost)


def test_drain_freeze_and_vip_waits_take_the_inventory_values() -> None:
    inv = inventory()
    registry = actions(inv)
    ctx = context()
    switch = registry["drain"].switch(ctx)
    assert switch is not None and switch.settings.drain_timeout == 77
    assert registry["freeze_writes"].freeze(ctx).timeout == 77
    assert registry["move_vip"].control(ctx).timeout == 13


def test_a_run_option_still_overrides_one_wait() -> None:
    registry = actions(inventory())
    assert registry["move_vip"].control(context(vip_timeout=2)).timeout == 2
    switch = registry["drain"].switch(context())
    assert switch is not None and switch.settings.drain_timeout == 77


def test_queue_wait_takes_the_inventory_value(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_queues_empty(source: Any, service: str, **kwargs: Any) -> list[Any]:
        seen.update(kwargs, service=service)
        return []

    monkeypatch.setattr(traffic_actions_module, "queues_empty", fake_queues_empty)
    registry = actions(inventory(broker=True))
    assert registry["drain"].wait_for_queues("keystone", context()) == {}
    assert seen["service"] == "keystone" and seen["timeout"] == 41


def test_service_stop_and_start_commands_are_bounded_by_the_inventory() -> None:
    inv = inventory()
    made: dict[str, RecordingHost] = {}

    def hosts(name: str) -> RecordingHost:
        return made.setdefault(name, RecordingHost(name))

    plan = build_plan(inv, "cutover")
    stop = next(s for s in plan.steps if s.action == "stop_service")
    facts: dict[str, Any] = {}
    ctx: Any = SimpleNamespace(log=lambda line: None, options={}, run_id=1, step=stop,
                               fact=facts.get, set_fact=facts.__setitem__)
    StopServiceAction(ActionContext(inv, hosts, Path("unused"))).run(stop, ctx)  # type: ignore[arg-type]
    assert set(made) == set(stop.hosts)
    assert all(h.timeouts and set(h.timeouts) == {222} for h in made.values())


def test_the_estimate_uses_the_same_window() -> None:
    inv = inventory(freeze=False)  # without a read-only window, cutover drains
    plan = build_plan(inv, "cutover")
    estimate = estimate_window(plan, inv, {})
    drains = [s.id for s in plan.steps if s.action == "drain"]
    assert drains and all(estimate.steps[d].seconds == 77 for d in drains)
    assert estimate.max_downtime == 1800
    with_broker = inventory(broker=True, freeze=False)
    estimate = estimate_window(build_plan(with_broker, "cutover"), with_broker, {})
    assert all(estimate.steps[d].seconds == 77 + 41 for d in drains)


def test_ssh_gets_the_window_timeouts() -> None:
    from sidebyside.remote.inventory_hosts import Hosts
    from sidebyside.remote.ssh import SshHost

    hosts = Hosts(inventory())
    host = hosts("old-ctl1")
    assert isinstance(host, SshHost)
    assert (host.connect_timeout, host.server_alive_interval) == (4, 6)
    hosts.close()
