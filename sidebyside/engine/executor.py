"""Run a plan step by step, journaling each step before and after it.

The executor knows nothing about OpenStack: it maps each step's `action` to an
`Action` object passed in by the caller (effects are injected, so ordering,
resume and failure handling are tested with plain Python actions).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol

from sidebyside.engine.fingerprint import Fingerprint, fingerprint_changes
from sidebyside.engine.journal import Journal, RunRecord, RunStatus, StepStatus
from sidebyside.errors import Aborted, InputError, SbsError, StepFailed
from sidebyside.plan.model import Plan, Step
from sidebyside.redact import redact


@dataclass
class StepContext:
    """What an action gets besides its step: a log, the journal's facts, options."""

    run_id: int
    step: Step
    journal: Journal
    options: Mapping[str, Any]
    log_lines: list[str] = field(default_factory=list)
    on_log: Callable[[str], None] | None = None

    def log(self, line: str) -> None:
        line = redact(line)
        self.log_lines.append(line)
        if self.on_log:
            self.on_log(line)

    def set_fact(self, key: str, value: Any) -> None:
        self.journal.set_fact(key, value)

    def fact(self, key: str, default: Any = None) -> Any:
        return self.journal.fact(key, default)


class Action(Protocol):
    """One kind of step. `run` returns a JSON-able result (or None) or raises."""

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any] | None: ...


class VerifiableAction(Action, Protocol):
    def verify(self, step: Step, ctx: StepContext) -> bool:
        """True when the step's effect is already fully in place (used on resume)."""
        ...


class Reporter(Protocol):
    def run_started(self, plan: Plan, run_id: int, resumed: bool) -> None: ...
    def step_started(self, step: Step, index: int, total: int) -> None: ...
    def step_finished(self, step: Step, status: StepStatus, duration: float,
                      error: str | None) -> None: ...
    def log(self, step: Step, line: str) -> None: ...


class SilentReporter:
    def run_started(self, plan: Plan, run_id: int, resumed: bool) -> None:
        pass

    def step_started(self, step: Step, index: int, total: int) -> None:
        pass

    def step_finished(self, step: Step, status: StepStatus, duration: float,
                      error: str | None) -> None:
        pass

    def log(self, step: Step, line: str) -> None:
        pass


@dataclass(frozen=True)
class RunOutcome:
    run_id: int
    command: str
    status: RunStatus
    resumed: bool
    steps_run: tuple[str, ...]
    steps_skipped: tuple[str, ...]


class _Interrupts:
    """First Ctrl-C: stop after the current step. Second: stop now."""

    def __init__(self) -> None:
        self.requested = False

    @contextmanager
    def installed(self) -> Iterator[None]:
        def handler(signum: int, frame: FrameType | None) -> None:
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True

        try:
            previous = signal.signal(signal.SIGINT, handler)
        except ValueError:  # not in the main thread (tests): no handler
            yield
            return
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


def resumable_run(journal: Journal, plan: Plan,
                  fingerprint: Fingerprint | None) -> RunRecord | None:
    """The unfinished run of `plan.command` to resume, or None when there is none.

    Raises InputError when there is one but resuming it with this plan would finish its
    work against something else: its steps changed, or what it depends on in the
    inventory did (each changed field named). Runs journaled without a fingerprint are
    checked by their steps only.
    """
    previous = journal.unfinished_run(plan.command)
    if previous is None:
        return None
    undo = (f"put the inventory back to resume it, undo it with `sbs rollback`, or start "
            f"afresh with `sbs {plan.command} --restart`")
    if previous.fingerprint is not None and fingerprint is not None:
        changes = fingerprint_changes(previous.fingerprint, fingerprint)
        if changes:
            raise InputError(
                f"run {previous.id} of `sbs {plan.command}` was interrupted, and the "
                "inventory has changed since in what its steps depend on:\n  "
                + "\n  ".join(changes), hint=undo)
    if [s["id"] for s in previous.plan] != [s.id for s in plan.steps]:
        raise InputError(
            f"run {previous.id} of `sbs {plan.command}` was interrupted, and the "
            "plan has changed since (inventory edited?)", hint=undo)
    return previous


class Executor:
    def __init__(self, journal: Journal, actions: Mapping[str, Action], *,
                 reporter: Reporter | None = None,
                 options: Mapping[str, Any] | None = None) -> None:
        self.journal = journal
        self.actions = actions
        self.reporter: Reporter = reporter or SilentReporter()
        self.options = dict(options or {})
        self._interrupts = _Interrupts()

    def _check_actions(self, plan: Plan) -> None:
        missing = sorted({s.action for s in plan.steps} - set(self.actions))
        if missing:
            raise SbsError(f"no implementation for actions: {', '.join(missing)}")

    def _attach(self, plan: Plan, restart: bool, argv: list[str] | None,
                fingerprint: Fingerprint | None) -> tuple[int, bool]:
        """Resume the unfinished run of this command, or start a new one."""
        previous = None if restart else resumable_run(self.journal, plan, fingerprint)
        if previous:
            self.journal.adopt_run(previous.id)
            return previous.id, True
        plan_dicts = [s.to_dict() for s in plan.steps]
        return self.journal.start_run(plan.command, plan.environment, plan_dicts, argv,
                                      fingerprint), False

    def execute(self, plan: Plan, *, restart: bool = False, argv: list[str] | None = None,
                fingerprint: Fingerprint | None = None) -> RunOutcome:
        """Run (or resume) `plan`; `fingerprint` is what it depends on in the inventory.

        Raises StepFailed (the run stays resumable), Aborted (Ctrl-C between steps),
        InputError (a resume whose plan or fingerprint changed), or whatever SbsError a
        step raised wrapped in StepFailed.
        """
        self._check_actions(plan)
        run_id, resumed = self._attach(plan, restart, argv, fingerprint)
        self.reporter.run_started(plan, run_id, resumed)
        ran: list[str] = []
        skipped: list[str] = []
        total = len(plan.steps)
        with self._interrupts.installed():
            for index, step in enumerate(plan.steps, start=1):
                record = self.journal.step(run_id, step.id)
                # A gate proves again on every invocation: a resume is a run of its own.
                if record.status in (StepStatus.DONE, StepStatus.SKIPPED) and not step.gate:
                    skipped.append(step.id)
                    continue
                if self._interrupts.requested:
                    self.journal.finish_run(run_id, RunStatus.INTERRUPTED, Aborted.exit_code,
                                            "interrupted by the operator")
                    raise Aborted(f"stopped before step {step.id} at the operator's request",
                                  hint=f"re-run `sbs {plan.command}` to resume")
                ctx = StepContext(run_id=run_id, step=step, journal=self.journal,
                                  options=self.options, on_log=self._log_sink(step))
                if record.status == StepStatus.RUNNING and self._already_in_place(step, ctx):
                    # A crash after the effect but before the journal said done.
                    self.journal.transition(run_id, step.id, StepStatus.DONE,
                                            output="found complete on resume")
                    skipped.append(step.id)
                    continue
                if record.status == StepStatus.RUNNING and not step.rerunnable:
                    error = (f"step {step.id} was interrupted mid-way and is not safe to "
                             "re-run automatically")
                    self.journal.transition(run_id, step.id, StepStatus.FAILED, error=error)
                    self.journal.finish_run(run_id, RunStatus.FAILED, StepFailed.exit_code,
                                            error)
                    raise StepFailed(step.id, "interrupted mid-way; not safe to re-run",
                                     hint="inspect it, then `sbs rollback`")
                self._run_step(plan, run_id, step, ctx, index, total)
                ran.append(step.id)
        self.journal.finish_run(run_id, RunStatus.DONE, 0)
        return RunOutcome(run_id=run_id, command=plan.command, status=RunStatus.DONE,
                          resumed=resumed, steps_run=tuple(ran), steps_skipped=tuple(skipped))

    def _log_sink(self, step: Step) -> Callable[[str], None]:
        def sink(line: str) -> None:
            self.reporter.log(step, line)
        return sink

    def _already_in_place(self, step: Step, ctx: StepContext) -> bool:
        verify = getattr(self.actions[step.action], "verify", None)
        if verify is None:
            return False
        try:
            return bool(verify(step, ctx))
        except SbsError as exc:
            ctx.log(f"verify on resume failed, re-running: {exc.message}")
            return False

    def _run_step(self, plan: Plan, run_id: int, step: Step, ctx: StepContext,
                  index: int, total: int) -> None:
        self.journal.transition(run_id, step.id, StepStatus.RUNNING)
        self.reporter.step_started(step, index, total)
        started = time.monotonic()
        try:
            result = self.actions[step.action].run(step, ctx)
        except KeyboardInterrupt:
            # Left `running` on purpose: the next run verifies it before re-running.
            self.journal.event(run_id, step.id, "interrupted-mid-step")
            self.journal.finish_run(run_id, RunStatus.INTERRUPTED, Aborted.exit_code,
                                    f"interrupted during {step.id}")
            raise Aborted(f"interrupted during step {step.id}",
                          hint=f"re-run `sbs {plan.command}` to resume") from None
        except Exception as exc:
            if isinstance(exc, StepFailed):  # already names the step: keep its detail
                message = redact(exc.detail)
            elif isinstance(exc, SbsError):
                message = redact(exc.message)
            else:
                message = redact(f"{type(exc).__name__}: {exc}")
            duration = time.monotonic() - started
            # A gate's refusal is the command's answer (nothing has changed): its own
            # error and exit code, not a failed step to resume.
            refusal = exc if step.gate and isinstance(exc, SbsError) and not isinstance(
                exc, StepFailed) else None
            self.journal.transition(run_id, step.id, StepStatus.FAILED,
                                    output="\n".join(ctx.log_lines), error=message)
            self.journal.finish_run(run_id, RunStatus.FAILED,
                                    refusal.exit_code if refusal else StepFailed.exit_code,
                                    message)
            self.reporter.step_finished(step, StepStatus.FAILED, duration, message)
            if refusal is not None:
                raise  # the gate's own error, as it was raised
            failure = StepFailed(step.id, message,
                                 hint=exc.hint if isinstance(exc, SbsError) else None)
            failure.cause_exit_code = getattr(exc, "exit_code", None)  # type: ignore[attr-defined]
            raise failure from exc
        duration = time.monotonic() - started
        self.journal.transition(run_id, step.id, StepStatus.DONE,
                                output="\n".join(ctx.log_lines), result=result or {})
        self.reporter.step_finished(step, StepStatus.DONE, duration, None)
