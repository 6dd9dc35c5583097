"""Journal transitions, executor ordering, resume, failure, redaction in the journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidebyside.engine.executor import Executor
from sidebyside.engine.journal import Journal, RunStatus, StepStatus
from sidebyside.errors import InputError, SbsError, StepFailed
from sidebyside.plan.model import Changes, Plan, Step
from sidebyside.redact import forget_secrets, register_secret


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


def test_transitions_legal_and_illegal(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    run = journal.start_run("prepare", "t", [{"id": "a", "action": "x", "title": "A"}])
    assert journal.step(run, "a").status == StepStatus.PENDING
    with pytest.raises(ValueError, match="illegal transition pending -> done"):
        journal.transition(run, "a", StepStatus.DONE)
    journal.transition(run, "a", StepStatus.RUNNING)
    journal.transition(run, "a", StepStatus.FAILED, error="x")
    journal.transition(run, "a", StepStatus.RUNNING)
    journal.transition(run, "a", StepStatus.DONE, result={"n": 1})
    rec = journal.step(run, "a")
    assert rec.status == StepStatus.DONE and rec.attempts == 2 and rec.result == {"n": 1}
    assert rec.duration is not None and rec.duration >= 0
    # a step done stays done unless it runs again: nothing takes it back to pending or
    # failed (a cutover's undo is the rollback plan, a run of its own)
    for illegal in (StepStatus.PENDING, StepStatus.FAILED, StepStatus.SKIPPED):
        with pytest.raises(ValueError, match=f"illegal transition done -> {illegal}"):
            journal.transition(run, "a", illegal)
    assert "undone" not in {status.value for status in StepStatus}


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


def test_secrets_never_reach_the_journal(tmp_path: Path) -> None:
    forget_secrets()
    register_secret("pw-Hidden-123")
    journal = Journal(tmp_path)
    calls: list[str] = []
    actions = {"a": Recorder(calls, log="using password=pw-Hidden-123 now"),
               "b": Recorder(calls, fail=True)}
    with pytest.raises(StepFailed) as info:
        Executor(journal, actions).execute(make_plan("a", "b"))
    journal.close()
    raw = (tmp_path / "journal.db").read_bytes()
    wal = tmp_path / "journal.db-wal"
    if wal.exists():
        raw += wal.read_bytes()
    assert b"pw-Hidden-123" not in raw
    assert b"boom for ***" in raw
    assert "pw-Hidden-123" not in info.value.message
    forget_secrets()


def test_missing_action_is_refused_before_anything_runs(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    with pytest.raises(SbsError, match="no implementation for actions: b"):
        Executor(journal, {"a": Recorder([])}).execute(make_plan("a", "b"))
    assert journal.runs() == []


def test_facts_and_durations(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.set_fact("position", {"keystone": {"user": 12}})
    assert journal.fact("position") == {"keystone": {"user": 12}}
    assert journal.fact("missing", 5) == 5
    Executor(journal, {"a": Recorder([])}).execute(make_plan("a"))
    assert set(journal.step_durations("prepare")) == {"prepare.a"}
