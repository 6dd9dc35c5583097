"""The journal: legal step transitions, facts and durations, and no secret reaching its
file through what an executed step logs or raises."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidebyside.engine.executor import Executor
from sidebyside.engine.journal import Journal, StepStatus
from sidebyside.errors import StepFailed
from sidebyside.redact import forget_secrets, register_secret
from tests.unit.test_engine_executor import Recorder, make_plan


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


def test_facts_and_durations(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.set_fact("position", {"keystone": {"user": 12}})
    assert journal.fact("position") == {"keystone": {"user": 12}}
    assert journal.fact("missing", 5) == 5
    Executor(journal, {"a": Recorder([])}).execute(make_plan("a"))
    assert set(journal.step_durations("prepare")) == {"prepare.a"}
