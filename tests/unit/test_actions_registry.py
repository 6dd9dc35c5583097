"""The one table of step actions (sidebyside.actions.ACTIONS): every action kind a plan
uses has its class there, and the table holds nothing no plan uses."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sidebyside.actions import ACTIONS, ActionSet
from sidebyside.actions.data import RequireVerifiedCopy
from sidebyside.actions.upgrade import CellMappingsAction, DbSyncAction, DbSyncChainsAction
from sidebyside.engine.environment import Environment
from sidebyside.errors import InputError
from sidebyside.inventory import Inventory, parse_inventory
from sidebyside.plan import build_plan
from sidebyside.plan.builder import COMMANDS
from tests.conftest import example_inventory

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(name: str) -> dict[str, Any]:
    return example_inventory(f"{name}.yaml")  # type: ignore[no-any-return]


def variants() -> Iterator[tuple[str, Inventory]]:
    """The inventories of the plan tests, with and without a read-only window and a
    keepalived VIP (each decides which steps a cutover has)."""
    yield "minimal", parse_inventory(example("minimal"))
    minimal = example("minimal")
    minimal["ha"]["haproxy"]["write_freeze"] = {"map": "/etc/haproxy/sbs-freeze.map"}
    minimal["ha"]["keepalived"] = {"instance": "VI_1", "vip": "10.0.0.10/24",
                                   "old": ["old-ctl1"], "new": ["new-ctl1"]}
    yield "minimal+freeze+keepalived", parse_inventory(minimal)
    production = example("production")
    yield "production", parse_inventory(production)
    logins = copy.deepcopy(production)
    logins["ha"]["haproxy"]["write_freeze"]["allow_token_issue"] = True
    yield "production+token-issue", parse_inventory(logins)
    for without in (("write_freeze",), ("keepalived",), ("write_freeze", "keepalived")):
        data = copy.deepcopy(production)
        for key in without:
            if key == "write_freeze":
                del data["ha"]["haproxy"]["write_freeze"]
            else:
                del data["ha"]["keepalived"]
        yield "production-" + "-".join(without), parse_inventory(data)


def kinds_the_plans_use() -> dict[str, set[str]]:
    """action kind -> the plans (variant/command) with a step of it."""
    used: dict[str, set[str]] = {}
    for name, inv in variants():
        for command in COMMANDS:
            try:
                plan = build_plan(inv, command)
            except InputError:  # computes-upgrade of an inventory without computes
                continue
            for step in plan.steps:
                used.setdefault(step.action, set()).add(f"{name}/{command}")
    return used


def test_every_action_kind_a_plan_uses_is_in_the_table() -> None:
    missing = sorted(set(kinds_the_plans_use()) - set(ACTIONS))
    assert missing == [], f"plan steps with no action in sidebyside.actions.ACTIONS: {missing}"


def test_the_table_holds_no_kind_no_plan_uses() -> None:
    unused = sorted(set(ACTIONS) - set(kinds_the_plans_use()))
    assert unused == [], f"ACTIONS entries no plan uses: {unused}"


def test_each_variant_plans_what_it_is_meant_to() -> None:
    # the variants above are only worth their cost if they reach different steps
    used = kinds_the_plans_use()
    assert "production/cutover" in used["freeze_writes"]
    assert "production-write_freeze/cutover" in used["drain"]
    assert "production+token-issue/cutover" in used["open_token_issue"]
    assert "production-keepalived/cutover" not in used["move_vip"]


def test_what_writes_the_copy_is_built_behind_the_verified_copy_guard(
        tmp_path: Path) -> None:
    # the db_sync chains (nova's cell mappings at the head of its chain) write the copy
    assert inspect.unwrap(ACTIONS["db_sync_chains"]) is DbSyncChainsAction
    with ActionSet(Environment(parse_inventory(example("minimal")), tmp_path)) as actions:
        action = actions["db_sync_chains"]
        assert isinstance(action, RequireVerifiedCopy)
        assert isinstance(action.inner, DbSyncChainsAction)
        assert isinstance(action.inner.cells, CellMappingsAction)
        assert isinstance(action.inner.sync, DbSyncAction)


def test_an_action_set_builds_every_kind_and_opens_no_host_until_a_step_asks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sidebyside.remote import inventory_hosts

    connected: list[str] = []
    monkeypatch.setattr(inventory_hosts, "connect", lambda spec: connected.append(spec.name))
    with ActionSet(Environment(parse_inventory(example("minimal")), tmp_path)) as actions:
        assert set(actions) == set(ACTIONS)
        assert all(type(actions[k]) is ACTIONS[k] for k in ACTIONS
                   if k != "db_sync_chains")
        assert connected == []
        actions.context.hosts("old-ctl1")
        assert connected == ["old-ctl1"]
