"""The fleet runner: every host of a step in parallel, per-host results, per-host resume."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sidebyside.engine.executor import Executor, StepContext
from sidebyside.engine.journal import Journal, RunStatus, StepStatus
from sidebyside.engine.per_host import fleet_key, host_results, run_on_hosts
from sidebyside.errors import SbsError, StepFailed
from sidebyside.plan.model import Changes, Plan, Step
from sidebyside.redact import forget_secrets, register_secret

HOSTS = ("ctl1", "ctl2", "ctl3")
STEP = Step(id="cutover.stop.keystone", action="fleet", title="stop keystone everywhere",
            changes=Changes.OLD_SERVICES, hosts=HOSTS)


def start(journal: Journal, step: Step = STEP) -> int:
    return journal.start_run("cutover", "t", [step.to_dict()])


def context(journal: Journal, run_id: int, step: Step = STEP) -> StepContext:
    return StepContext(run_id=run_id, step=step, journal=journal, options={})


class Work:
    """A plain Python work function: records calls; fails on chosen hosts."""

    def __init__(self, fail_on: set[str] | None = None, error: Exception | None = None) -> None:
        self.fail_on = fail_on or set()
        self.error = error
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, host: str) -> dict[str, Any]:
        with self._lock:
            self.calls.append(host)
        if host in self.fail_on:
            raise self.error or SbsError(f"unit keystone would not stop on {host}")
        return {"stopped": host}


def test_one_host_failing_fails_the_step_naming_only_that_host(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    ctx = context(journal, start(journal))
    work = Work(fail_on={"ctl2"})
    with pytest.raises(StepFailed) as caught:
        run_on_hosts(ctx, HOSTS, work)
    message = caught.value.message
    assert "failed on ctl2 (" in message and "would not stop on ctl2" in message
    assert "ctl1" not in message and "ctl3" not in message
    # The other hosts still ran to the end and their results are journaled.
    assert sorted(work.calls) == list(HOSTS)
    assert journal.fact(fleet_key(ctx.run_id, STEP.id, "ctl1")) == {"stopped": "ctl1"}
    assert journal.fact(fleet_key(ctx.run_id, STEP.id, "ctl3")) == {"stopped": "ctl3"}
    assert journal.fact(fleet_key(ctx.run_id, STEP.id, "ctl2")) is None
    assert "ctl2: FAILED: unit keystone would not stop on ctl2" in ctx.log_lines


def test_resume_reruns_only_the_failed_host(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    run_id = start(journal)
    with pytest.raises(StepFailed):
        run_on_hosts(context(journal, run_id), HOSTS, Work(fail_on={"ctl2"}))
    journal.close()

    reopened = Journal(tmp_path)  # as a new sbs process would
    ctx = context(reopened, run_id)
    work = Work()
    results = run_on_hosts(ctx, HOSTS, work)
    assert work.calls == ["ctl2"]
    assert results == {h: {"stopped": h} for h in HOSTS}
    assert "ctl1: already done in an earlier attempt" in ctx.log_lines
    assert "ctl2: done" in ctx.log_lines


def test_hosts_run_in_parallel(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    barrier = threading.Barrier(len(HOSTS), timeout=5)

    def work(host: str) -> dict[str, Any]:
        barrier.wait()  # only returns when all three are in flight at once
        return {"host": host}

    results = run_on_hosts(context(journal, start(journal)), HOSTS, work, max_parallel=3)
    assert set(results) == set(HOSTS)


def test_concurrency_is_bounded(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    hosts = [f"ctl{i}" for i in range(6)]
    active, peak = 0, 0
    lock = threading.Lock()

    def work(host: str) -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        with lock:
            active -= 1

    run_on_hosts(context(journal, start(journal)), hosts, work, max_parallel=2)
    assert peak == 2


def test_unexpected_exceptions_are_reported_per_host_and_redacted(tmp_path: Path) -> None:
    register_secret("Sup3r-Secret-pw")
    try:
        journal = Journal(tmp_path)
        work = Work(fail_on={"ctl1", "ctl3"},
                    error=RuntimeError("connect failed with Sup3r-Secret-pw"))
        with pytest.raises(StepFailed) as caught:
            run_on_hosts(context(journal, start(journal)), HOSTS, work)
        message = caught.value.message
        # Hosts are named in the order they failed (they run in parallel).
        assert "failed on ctl1, ctl3" in message or "failed on ctl3, ctl1" in message
        assert "ctl2" not in message
        assert "RuntimeError: connect failed with ***" in message
        assert "Sup3r-Secret-pw" not in message
    finally:
        forget_secrets()


def test_no_host_left_to_do_runs_nothing(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    run_id = start(journal)
    run_on_hosts(context(journal, run_id), HOSTS, Work())
    work = Work()
    assert set(run_on_hosts(context(journal, run_id), HOSTS, work)) == set(HOSTS)
    assert work.calls == []


class FleetAction:
    """A step that acts on every host of the step through the fleet runner."""

    def __init__(self, work: Work) -> None:
        self.work = work

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        return run_on_hosts(ctx, step.hosts, self.work)


def test_executor_resume_finishes_only_the_failed_host(tmp_path: Path) -> None:
    plan = Plan(command="cutover", environment="t", steps=(STEP,))
    journal = Journal(tmp_path)
    failing = Work(fail_on={"ctl3"})
    with pytest.raises(StepFailed) as caught:
        Executor(journal, {"fleet": FleetAction(failing)}).execute(plan)
    assert "ctl3" in caught.value.message
    run = journal.latest_run("cutover")
    assert run is not None
    assert journal.step(run.id, STEP.id).status == StepStatus.FAILED

    retry = Work()
    outcome = Executor(journal, {"fleet": FleetAction(retry)}).execute(plan)
    assert outcome.resumed and outcome.run_id == run.id
    assert retry.calls == ["ctl3"]
    record = journal.step(run.id, STEP.id)
    assert record.status == StepStatus.DONE
    assert record.result == {h: {"stopped": h} for h in HOSTS}


def test_executor_names_the_step_once(tmp_path: Path) -> None:
    plan = Plan(command="cutover", environment="t", steps=(STEP,))
    with pytest.raises(StepFailed) as caught:
        Executor(Journal(tmp_path), {"fleet": FleetAction(Work(fail_on={"ctl2"}))}
                 ).execute(plan)
    assert caught.value.message.count(f"step {STEP.id} failed") == 1


def test_a_new_run_of_the_same_step_acts_on_every_host_again(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    run_on_hosts(context(journal, start(journal)), HOSTS, Work())
    first_run = journal.latest_run("cutover")
    assert first_run is not None
    journal.finish_run(first_run.id, RunStatus.DONE, 0)
    second_run = start(journal)
    work = Work()
    run_on_hosts(context(journal, second_run), HOSTS, work)
    assert sorted(work.calls) == list(HOSTS)


def test_a_finished_host_is_journaled_while_others_still_work(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    ctx = context(journal, start(journal))

    def work(host: str) -> dict[str, Any]:
        if host != "ctl1":
            return {"host": host}
        # ctl1 is slow: it waits (on its own connection) for ctl2's result to be durable.
        watcher = Journal(tmp_path)
        try:
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                if watcher.fact(fleet_key(ctx.run_id, STEP.id, "ctl2")) is not None:
                    return {"host": host}
                time.sleep(0.02)
            raise SbsError("ctl2's result was not journaled while ctl1 was still working")
        finally:
            watcher.close()

    run_on_hosts(ctx, HOSTS, work, max_parallel=3)


def test_host_results_show_which_hosts_a_resume_will_skip(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    run_id = start(journal)
    with pytest.raises(StepFailed):
        run_on_hosts(context(journal, run_id), HOSTS, Work(fail_on={"ctl2"}))
    first = host_results(journal, run_id, STEP.id)
    assert set(first) == {"ctl1", "ctl3"}
    assert first["ctl1"]["result"] == {"stopped": "ctl1"}
    run_on_hosts(context(journal, run_id), HOSTS, Work())
    second = host_results(journal, run_id, STEP.id)
    assert list(second)[-1] == "ctl2"  # in the order they finished
    assert {h: second[h] for h in first} == first  # the others untouched
    # another step or run, or a step whose id extends this one's, is not mixed in
    assert host_results(journal, run_id + 1, STEP.id) == {}
    journal.set_fact(fleet_key(run_id, STEP.id + "x", "ctl9"), {})
    assert "ctl9" not in host_results(journal, run_id, STEP.id)
