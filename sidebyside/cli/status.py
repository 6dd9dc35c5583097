"""`sbs status`: the latest run step by step, with timings."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from sidebyside.cli import output
from sidebyside.cli.common import (
    DEFAULT_INVENTORY,
    InventoryOpt,
    JsonOpt,
    StateDirOpt,
    environment,
    existing_journal,
)
from sidebyside.engine.fingerprint import Fingerprint, fingerprint_changes, inventory_fingerprint
from sidebyside.engine.journal import Journal, RunRecord, StepRecord
from sidebyside.engine.lock import RunLock
from sidebyside.engine.per_host import host_results


def _step_json(journal: Journal, run_id: int, step: StepRecord) -> dict[str, Any]:
    data: dict[str, Any] = {"id": step.step_id, "status": step.status.value,
                            "attempts": step.attempts, "duration": step.duration,
                            "error": step.error}
    # A step acting on several hosts: each host it finished, and when (a resumed step
    # re-runs only the hosts missing here).
    hosts = host_results(journal, run_id, step.step_id)
    if hosts:
        data["hosts"] = {host: {"done_at": done["done_at"]} for host, done in hosts.items()}
    return data


def _run_json(journal: Journal, run: RunRecord, current: Fingerprint) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": run.id, "command": run.command, "status": run.status.value,
        "started": run.started, "ended": run.ended, "rc": run.rc, "error": run.error,
        "steps": [_step_json(journal, run.id, s) for s in journal.steps(run.id)]}
    changes = _resume_blockers(journal, run, current)
    if changes is not None:  # the run a re-run would resume: what would refuse it
        data["inventory_changes"] = changes
    return data


def _resume_blockers(journal: Journal, run: RunRecord, current: Fingerprint) -> list[str] | None:
    """What changed in the inventory since `run`, when it is the run a re-run would resume
    (a resume is then refused); None for other runs and runs journaled without one."""
    unfinished = journal.unfinished_run(run.command)
    if unfinished is None or unfinished.id != run.id or run.fingerprint is None:
        return None
    return fingerprint_changes(run.fingerprint, current)


def register(app: typer.Typer) -> None:
    @app.command()
    def status(inventory: InventoryOpt = DEFAULT_INVENTORY, state_dir: StateDirOpt = None,
               as_json: JsonOpt = False,
               command: Annotated[str | None, typer.Option(
                   "--command", help="Show the latest run of this command only.")] = None,
               ) -> None:
        """Show the latest run step by step with timings."""
        env = environment(inventory, state_dir)
        # A lock file or journal sbs cannot use is reported (exit 2, the file named),
        # never shown as "no runs".
        RunLock(env.state_dir, "status").check_form()
        journal = existing_journal(env)
        if journal is None:
            if as_json:
                output.emit_json({"environment": env.inventory.environment, "runs": []})
            else:
                output.console.print(f"no runs yet for {env.inventory.environment} "
                                     f"(state dir {env.state_dir})")
            return
        runs = journal.runs(command)
        current = inventory_fingerprint(env.inventory)
        if as_json:
            output.emit_json({
                "environment": env.inventory.environment,
                "runs": [_run_json(journal, r, current) for r in runs]})
            return
        if not runs:
            output.console.print("no runs yet")
            return
        for run in runs[-3:]:
            output.render_status(run, journal.steps(run.id))
            changes = _resume_blockers(journal, run, current)
            if changes:
                output.console.print(
                    f"[yellow]re-running `sbs {run.command}` will not resume run {run.id}: "
                    "the inventory has changed since in what its steps depend on:[/]\n  "
                    + escape("\n  ".join(changes)))
