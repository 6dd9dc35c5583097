"""The guarded runs: cutover falls back to the rollback plan once traffic moved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sidebyside.engine.environment import Environment
from sidebyside.engine.guarded_run import run_command
from sidebyside.engine.journal import RunStatus
from sidebyside.errors import CutoverRolledBack, DataLossRefused, RollbackFailed, StepFailed
from sidebyside.inventory import parse_inventory
from sidebyside.plan import build_plan
from tests.conftest import example_inventory

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


class Recorder:
    def __init__(self, calls: list[str], fail_on: set[str]) -> None:
        self.calls, self.fail_on = calls, fail_on

    def run(self, step, ctx) -> dict[str, Any]:
        self.calls.append(step.id)
        if step.id in self.fail_on:
            if step.action == "report_new_writes" and not ctx.options.get("accept_data_loss"):
                raise DataLossRefused("new writes")
            if step.action != "report_new_writes":
                raise StepFailed(step.id, f"injected failure in {step.id}")
        return {}


def environment(tmp_path: Path) -> Environment:
    inv = parse_inventory(example_inventory("minimal.yaml"))
    return Environment(inventory=inv, state_dir=tmp_path)


def factory(calls: list[str], fail_on: set[str]):
    def make(env):
        actions = {s.action for c in ("prepare", "cutover", "rollback")
                   for s in build_plan(env.inventory, c).steps}
        return {a: Recorder(calls, fail_on) for a in actions}
    return make


def test_cutover_verification_failure_rolls_back_and_exits_5(tmp_path: Path) -> None:
    env = environment(tmp_path)
    calls: list[str] = []
    with pytest.raises(CutoverRolledBack) as info:
        run_command(env, "cutover", factory(calls, {"cutover.verify-vip"}))
    assert info.value.exit_code == 5
    rollback_ids = [s.id for s in build_plan(env.inventory, "rollback").steps]
    assert calls[-len(rollback_ids):] == rollback_ids
    assert env.journal.latest_run("cutover").status == RunStatus.ROLLED_BACK
    assert env.journal.latest_run("rollback").status == RunStatus.DONE


def test_failure_before_the_switch_does_not_roll_back(tmp_path: Path) -> None:
    env = environment(tmp_path)
    calls: list[str] = []
    with pytest.raises(StepFailed) as info:
        run_command(env, "cutover", factory(calls, {"cutover.final-copy"}))
    assert info.value.exit_code == 4
    assert not any(c.startswith("rollback.") for c in calls)
    # the operator fixes the cause: the same command resumes at the failed step
    calls.clear()
    run_command(env, "cutover", factory(calls, set()))
    # the resumed run proves the sides again first (a gate), then goes on where it failed
    assert calls[:2] == ["cutover.prove-sides", "cutover.final-copy"]


def test_failed_automatic_rollback_is_reported_as_exit_6(tmp_path: Path) -> None:
    env = environment(tmp_path)
    with pytest.raises(RollbackFailed) as info:
        run_command(env, "cutover", factory([], {"cutover.verify-vip",
                                                 "rollback.switch.keystone"}))
    assert info.value.exit_code == 6
    assert "automatic rollback failed" in info.value.message


def test_manual_rollback_refusal_changes_nothing(tmp_path: Path) -> None:
    env = environment(tmp_path)
    run_command(env, "cutover", factory([], set()))
    calls: list[str] = []
    with pytest.raises(DataLossRefused) as info:
        run_command(env, "rollback", factory(calls, {"rollback.new-writes"}))
    assert calls == ["rollback.prove-sides", "rollback.new-writes"]  # nothing switched
    assert info.value.exit_code == 10
    run_command(env, "rollback", factory(calls, {"rollback.new-writes"}),
                options={"accept_data_loss": True})
    assert env.journal.latest_run("cutover").status == RunStatus.ROLLED_BACK


def production_environment(tmp_path: Path) -> Environment:
    inv = parse_inventory(example_inventory("production.yaml"))
    assert inv.ha.haproxy is not None and inv.ha.haproxy.write_freeze is not None
    return Environment(inventory=inv, state_dir=tmp_path)


def test_writes_leaking_into_the_read_only_window_stop_the_cutover_before_any_switch(
        tmp_path: Path) -> None:
    # A failure after the freeze but before the switch moved no traffic: no automatic
    # rollback, the operator resumes or rolls back (which thaws the writes).
    env = production_environment(tmp_path)
    calls: list[str] = []
    with pytest.raises(StepFailed) as info:
        run_command(env, "cutover", factory(calls, {"cutover.old-unchanged"}))
    assert info.value.exit_code == 4
    assert not any(c.startswith(("rollback.", "cutover.switch.")) for c in calls)
    assert any(c.startswith("cutover.freeze-writes.") for c in calls)
    calls.clear()
    run_command(env, "rollback", factory(calls, set()))
    assert "rollback.thaw-writes" in calls


def test_failure_after_the_first_switch_of_a_read_only_window_rolls_back(
        tmp_path: Path) -> None:
    env = production_environment(tmp_path)
    calls: list[str] = []
    with pytest.raises(CutoverRolledBack):
        run_command(env, "cutover", factory(calls, {"cutover.switch.glance"}))
    assert calls[-1] == "rollback.verify-vip"
    assert "rollback.thaw-writes" in calls


def test_the_automatic_rollback_reuses_the_cutovers_actions_with_its_own_options(
        tmp_path: Path) -> None:
    # The actions (and so the hosts they opened) are built once per run; the fallback
    # differs only in its options, which reach each step through ctx.options.
    env = environment(tmp_path)
    calls: list[str] = []
    built: list[dict[str, Any]] = []
    options_seen: dict[str, dict[str, Any]] = {}
    make = factory(calls, {"cutover.verify-vip"})

    class Seeing(Recorder):
        def run(self, step, ctx) -> dict[str, Any]:
            options_seen[step.id] = dict(ctx.options)
            return super().run(step, ctx)

    def once(run_env):
        actions = {kind: Seeing(calls, action.fail_on) for kind, action in make(run_env).items()}
        built.append(actions)
        return actions

    with pytest.raises(CutoverRolledBack):
        run_command(env, "cutover", once, options={"json": False})
    assert len(built) == 1
    assert options_seen["cutover.verify-vip"] == {"json": False}
    assert options_seen["rollback.new-writes"] == {"json": False, "accept_data_loss": True,
                                                   "automatic": True}
