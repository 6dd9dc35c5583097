"""The executor: step order, resume, a step found running, a changed plan, missing
actions. The journal's own tests are in test_engine_journal.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidebyside.engine.executor import Executor
from sidebyside.engine.journal import Journal, RunStatus, StepStatus
from sidebyside.errors import InputError, SbsError, StepFailed
from sidebyside.plan.model import Changes, Plan, Step


def make_plan(*names: str, command: str = "prepare", rerunnable: bool = True) -> Plan:
    return Plan(command=command, environment="t", steps=tuple(
        Step(id=f"{command}.{n}", action=n, title=f"do {n}", changes=Changes.NEW_SIDE,
             rerunnable=rerunnable) for n in names))


class Recorder:
    def __init__(self, calls: list[str], fail: bool = False, verified: bool = False,
                 log: str | None = None) -> None:
        self.calls, self.fail, self.verified, self.log_line = calls, fail, verified, log

    def run(self, step, ctx):
        self.calls.append(step.id)
        if self.log_line:
            ctx.log(self.log_line)
        if self.fail:
            raise SbsError("boom for pw-Hidden-123")
        return {"ok": step.id}

    def verify(self, step, ctx):
        return self.verified


def test_runs_steps_in_order_and_records_done(tmp_path: Path) -> None:
    calls: list[str] = []
    plan = make_plan("a", "b", "c")
    journal = Journal(tmp_path)
    out = Executor(journal, {n: Recorder(calls) for n in "abc"}).execute(plan)
    assert calls == ["prepare.a", "prepare.b", "prepare.c"]
    assert out.status == RunStatus.DONE and not out.resumed
    assert [s.status for s in journal.steps(out.run_id)] == [StepStatus.DONE] * 3
    assert journal.run(out.run_id).rc == 0


def test_failure_stops_and_resume_starts_at_first_step_not_done(tmp_path: Path) -> None:
    calls: list[str] = []
    journal = Journal(tmp_path)
    actions = {"a": Recorder(calls), "b": Recorder(calls, fail=True), "c": Recorder(calls)}
    with pytest.raises(StepFailed) as info:
        Executor(journal, actions).execute(make_plan("a", "b", "c"))
    assert info.value.step_id == "prepare.b" and info.value.exit_code == 4
    run = journal.latest_run("prepare")
    assert run is not None and run.status == RunStatus.FAILED
    actions["b"] = Recorder(calls)
    out = Executor(journal, actions).execute(make_plan("a", "b", "c"))
    assert out.resumed and out.run_id == run.id
    assert calls == ["prepare.a", "prepare.b", "prepare.b", "prepare.c"]
    assert out.steps_skipped == ("prepare.a",)
    assert journal.step(run.id, "prepare.b").attempts == 2


def test_step_found_running_is_verified_before_rerun(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    plan = make_plan("a", "b")
    run = journal.start_run("prepare", "t", [s.to_dict() for s in plan.steps])
    journal.transition(run, "prepare.a", StepStatus.RUNNING)  # as if killed mid-step
    calls: list[str] = []
    out = Executor(journal, {"a": Recorder(calls, verified=True),
                             "b": Recorder(calls)}).execute(plan)
    assert calls == ["prepare.b"]  # a was found complete, not re-run
    assert "prepare.a" in out.steps_skipped
    assert journal.step(run, "prepare.a").output_tail == "found complete on resume"


def test_running_step_not_rerunnable_fails_instead_of_rerunning(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    plan = make_plan("a", rerunnable=False)
    run = journal.start_run("prepare", "t", [s.to_dict() for s in plan.steps])
    journal.transition(run, "prepare.a", StepStatus.RUNNING)
    calls: list[str] = []
    with pytest.raises(StepFailed, match="not safe to re-run"):
        Executor(journal, {"a": Recorder(calls)}).execute(plan)
    assert calls == []


def test_changed_plan_refuses_resume_but_restart_works(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    calls: list[str] = []
    with pytest.raises(StepFailed):
        Executor(journal, {"a": Recorder(calls, fail=True)}).execute(make_plan("a"))
    actions = {"a": Recorder(calls), "b": Recorder(calls)}
    with pytest.raises(InputError, match="plan has changed"):
        Executor(journal, actions).execute(make_plan("a", "b"))
    out = Executor(journal, actions).execute(make_plan("a", "b"), restart=True)
    assert not out.resumed and out.steps_run == ("prepare.a", "prepare.b")


def test_missing_action_is_refused_before_anything_runs(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    with pytest.raises(SbsError, match="no implementation for actions: b"):
        Executor(journal, {"a": Recorder([])}).execute(make_plan("a", "b"))
    assert journal.runs() == []
