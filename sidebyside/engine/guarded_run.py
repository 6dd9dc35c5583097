"""prepare / cutover / rollback as guarded runs: lock, plan, execute, fall back.

Like gh-ost's cut-over: nothing changes without an explicit command; a cutover
that fails once traffic has started moving falls back to the pre-cutover state by
running the rollback plan, and reports exit code 5. The rollback runs with the
cutover's actions (and so its hosts): only its options differ, and options reach an
action per step (StepContext.options).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sidebyside.engine.environment import Environment
from sidebyside.engine.executor import Action, Executor, Reporter, RunOutcome, resumable_run
from sidebyside.engine.fingerprint import inventory_fingerprint
from sidebyside.engine.journal import RunStatus
from sidebyside.engine.lock import RunLock
from sidebyside.errors import (
    CutoverRolledBack,
    DataLossRefused,
    RollbackFailed,
    SbsError,
    StepFailed,
)
from sidebyside.plan import Plan, build_plan

# Called once per run, after the lock is held and a resume was accepted (nothing is
# built for a refused run); the caller owns what it returns (see actions.ActionSet).
ActionsFactory = Callable[[Environment], Mapping[str, Action]]


def _execute(env: Environment, plan: Plan, actions: Mapping[str, Action],
             reporter: Reporter | None, options: Mapping[str, Any], restart: bool,
             argv: list[str] | None) -> RunOutcome:
    executor = Executor(env.journal, actions, reporter=reporter, options=options)
    return executor.execute(plan, restart=restart, argv=argv,
                            fingerprint=inventory_fingerprint(env.inventory))


def run_command(env: Environment, command: str, actions_factory: ActionsFactory, *,
                reporter: Reporter | None = None, options: Mapping[str, Any] | None = None,
                restart: bool = False, argv: list[str] | None = None) -> RunOutcome:
    """Run prepare, cutover or rollback under the environment's run lock.

    Raises InputError (an unusable journal or lock file, or a resume refused because
    the plan or the inventory changed), LockedError, StepFailed (resumable),
    CutoverRolledBack (cutover failed after the switch began and traffic is back on the
    old side), RollbackFailed.
    """
    options = dict(options or {})
    plan = build_plan(env.inventory, command)
    journal = env.journal  # an unusable journal is refused before anything else
    with RunLock(env.state_dir, command):
        if not restart:  # refused before any action opens a host or a database
            resumable_run(journal, plan, inventory_fingerprint(env.inventory))
        actions = actions_factory(env)
        if command == "rollback":
            return _rollback(env, plan, actions, reporter, options, restart, argv)
        try:
            return _execute(env, plan, actions, reporter, options, restart, argv)
        except StepFailed as failure:
            if command != "cutover":
                raise
            return _fall_back(env, plan, failure, actions, reporter, options, argv)


def _rollback(env: Environment, plan: Plan, actions: Mapping[str, Action],
              reporter: Reporter | None, options: Mapping[str, Any], restart: bool,
              argv: list[str] | None) -> RunOutcome:
    try:
        outcome = _execute(env, plan, actions, reporter, options, restart, argv)
    except StepFailed as exc:
        if isinstance(exc.__cause__, DataLossRefused):
            raise exc.__cause__ from None  # refused: nothing was switched (exit 10)
        if exc.step_id == "rollback.new-writes":
            raise  # could not report: nothing was switched
        raise RollbackFailed(exc.message, hint="fix the cause and re-run `sbs rollback`; "
                             "it resumes where it stopped") from exc
    cutover = env.journal.latest_run("cutover")
    if cutover and cutover.status != RunStatus.ROLLED_BACK:
        env.journal.finish_run(cutover.id, RunStatus.ROLLED_BACK, 0, "rolled back")
    return outcome


def _fall_back(env: Environment, plan: Plan, failure: StepFailed,
               actions: Mapping[str, Action], reporter: Reporter | None,
               options: Mapping[str, Any], argv: list[str] | None) -> RunOutcome:
    ids = [s.id for s in plan.steps]
    first_switch = plan.automatic_rollback_from()  # what `sbs plan cutover` says too
    if first_switch is None or ids.index(failure.step_id) < first_switch:
        raise failure  # traffic never moved: resume or roll back, the operator decides
    rollback_options = {**options, "accept_data_loss": True, "automatic": True}
    rollback_plan = build_plan(env.inventory, "rollback")
    try:
        _rollback(env, rollback_plan, actions, reporter, rollback_options, True, argv)
    except SbsError as exc:
        raise RollbackFailed(
            f"cutover failed at {failure.step_id} ({failure.message}) and the automatic "
            f"rollback failed too: {exc.message}",
            hint="re-run `sbs rollback`; it resumes where it stopped") from exc
    raise CutoverRolledBack(
        f"cutover failed at {failure.step_id}: {failure.message}; traffic is back on the "
        "old controller", hint="see `sbs status`; fix the new side, then `sbs cutover --restart`")
