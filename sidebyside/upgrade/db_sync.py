"""One service's db_sync on the new controller, with each stage's semantics.

The catalog says which commands and how to read their exit codes; this module runs
them through a Host and decides, stage by stage:

- a dispatching check (keystone `db_sync --check`, glance `db check`) is run, the
  stage its exit code names is run, and the check again, until it says 0;
- online data migrations are re-run while they report more work (rc 1), bounded;
- anything else must exit with one of its ok codes.

Every command has a timeout; the first failure stops the sync with the tail of the
service's output (CommandFailed, exit code 4).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sidebyside.remote.base import Host
from sidebyside.services.catalog import ServiceInfo, SyncCommand
from sidebyside.upgrade.commands import (
    CommandFailed,
    CommandRun,
    LogSink,
    StageRun,
    SyncResult,
    display,
    execute,
    render,
)


@dataclass(frozen=True)
class CheckOutcome:
    """What a dispatching check's exit code means (pure)."""

    current: bool
    next_stage: str | None = None
    use_fallback: bool = False
    error: str | None = None


def read_check(check: SyncCommand, returncode: int, output: str) -> CheckOutcome:
    """Interpret a dispatching check: 0 up to date, a dispatch code names the next
    stage, argparse's 2 with "invalid choice" means the release lacks the check."""
    if returncode == 0:
        return CheckOutcome(current=True)
    if returncode in check.dispatch:
        return CheckOutcome(current=False, next_stage=check.dispatch[returncode])
    if check.fallback and returncode == 2 and "invalid choice" in output:
        return CheckOutcome(current=False, use_fallback=True)
    return CheckOutcome(current=False, error=f"exited {returncode}, which is neither 0 "
                        f"(up to date) nor one of {sorted(check.dispatch)}")


def max_check_rounds(check: SyncCommand) -> int:
    """Each dispatched stage at most once, then the final check."""
    return len(set(check.dispatch.values())) + 1


class _Sync:
    def __init__(self, host: Host, info: ServiceInfo, release: str, bin_dir: str,
                 etc_dir: str, log: LogSink) -> None:
        self.host = host
        self.info = info
        self.values = {"bin": bin_dir.rstrip("/") or "/", "etc": etc_dir.rstrip("/") or "/"}
        self.log = log
        self.result = SyncResult(service=info.name, release=release)
        self.by_name = {stage.name: stage for stage in info.db_sync}

    def _run(self, stage: SyncCommand, template: str | None = None,
             name: str | None = None) -> tuple[StageRun, CommandRun]:
        argv = render(template or stage.run, self.values)
        record = StageRun(name=name or stage.name, command=display(argv))
        run = execute(self.host, argv, service=self.info.name, stage=record.name,
                      timeout=stage.timeout, log=self.log)
        record.add(run)
        self.result.stages.append(record)
        return record, run

    def _fail(self, stage: str, message: str, run: CommandRun | None = None) -> CommandFailed:
        return CommandFailed(self.info.name, stage,
                             f"({self.result.release}) {message}",
                             returncode=run.returncode if run else None,
                             output_tail=run.tail if run else "")

    def once(self, stage: SyncCommand) -> None:
        record, run = self._run(stage)
        if run.returncode not in stage.ok_codes:
            raise self._fail(stage.name, f"`{display(run.argv)}` exited {run.returncode}",
                             run)
        if run.returncode != 0:  # e.g. neutron's "contract migrations pending" before sync
            record.note = f"exit {run.returncode} accepted (ok codes {list(stage.ok_codes)})"

    def until_done(self, stage: SyncCommand) -> None:
        argv = render(stage.run, self.values)
        record = StageRun(name=stage.name, command=display(argv))
        self.result.stages.append(record)
        for _ in range(max(stage.max_rounds, 1)):
            run = execute(self.host, argv, service=self.info.name, stage=stage.name,
                          timeout=stage.timeout, log=self.log)
            record.add(run)
            if run.returncode == stage.until_rc:
                return
            if run.returncode not in stage.more_codes:
                raise self._fail(stage.name, f"`{display(argv)}` exited {run.returncode} "
                                 f"after {record.rounds} round(s)", run)
        raise self._fail(stage.name, f"still reports more to migrate after "
                         f"{record.rounds} rounds (exit codes {record.returncodes})",
                         None)

    def dispatching(self, check: SyncCommand) -> None:
        previous: str | None = None
        for _ in range(max_check_rounds(check)):
            record, run = self._run(check)
            outcome = read_check(check, run.returncode, run.text)
            if outcome.current:
                record.note = "up to date"
                return
            if outcome.use_fallback:
                assert check.fallback is not None
                record.note = "this release has no check: one-shot sync"
                _, sync_run = self._run(check, check.fallback, name="sync")
                if sync_run.returncode != 0:
                    raise self._fail("sync", f"`{display(sync_run.argv)}` exited "
                                     f"{sync_run.returncode}", sync_run)
                return
            if outcome.error or outcome.next_stage is None:
                raise self._fail(check.name, f"`{display(run.argv)}` {outcome.error}", run)
            record.note = f"needs {outcome.next_stage}"
            if outcome.next_stage == previous:
                raise self._fail(check.name, f"still needs {previous} after running it: "
                                 "the stage did not take effect", run)
            stage = self.by_name.get(outcome.next_stage)
            if stage is None:
                raise self._fail(check.name, f"dispatches to unknown stage "
                                 f"{outcome.next_stage!r} (services/catalog.yaml)", run)
            self.once(stage)
            previous = outcome.next_stage
        raise self._fail(check.name, f"not up to date after {max_check_rounds(check)} "
                         "rounds of check and stage", None)

    def run_all(self, only: tuple[str, ...] | None = None) -> SyncResult:
        started = time.monotonic()
        dispatched = self.info.dispatched_stages
        for stage in self.info.db_sync:
            if stage.name in dispatched or (only is not None and stage.name not in only):
                continue
            if stage.dispatch:
                self.dispatching(stage)
            elif stage.until_rc is not None:
                self.until_done(stage)
            else:
                self.once(stage)
        self.result.seconds = time.monotonic() - started
        self.log(f"{self.info.name} db_sync to {self.result.release} done in "
                 f"{self.result.seconds:.1f}s: "
                 + ", ".join(f"{k} {v:.1f}s" for k, v in self.result.durations().items()))
        return self.result


def run_db_sync(host: Host, service_info: ServiceInfo, release: str, bin_dir: str,
                etc_dir: str, log: LogSink, *, only: tuple[str, ...] | None = None
                ) -> SyncResult:
    """Upgrade `service_info`'s databases with the `release` code in `bin_dir`, reading
    the service's configuration under `etc_dir` (the controller's /etc, rooted).

    Returns every stage's commands, exit codes and durations. Raises CommandFailed
    (exit code 4; the tail of the service's output in the message) on the first
    stage that fails, times out or does not converge, and InputError for a broken
    catalog template. `only`: just these stages (and what their checks dispatch to), as
    finalize runs them.
    """
    return _Sync(host, service_info, release, bin_dir, etc_dir, log).run_all(only)
