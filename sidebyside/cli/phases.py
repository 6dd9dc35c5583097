"""`sbs prepare`, `sbs cutover`, `sbs rollback`, `sbs finalize`: the upgrade phases,
each a guarded run (the runbook itself is `sbs plan`); `sbs computes upgrade` is one too
(cli/computes.py)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from sidebyside.cli import output
from sidebyside.cli.common import (
    DEFAULT_INVENTORY,
    DryRunOpt,
    InventoryOpt,
    JsonOpt,
    RestartOpt,
    StateDirOpt,
    YesOpt,
    confirm,
    environment,
)
from sidebyside.engine.guarded_run import run_command
from sidebyside.plan import build_plan

_QUESTIONS = {
    "prepare": "Deploy and fill the NEW controllers of {env} (the old side is only read)?",
    "cutover": "Cut {env} over to the new controllers? The old services will be stopped",
    "rollback": "Send {env}'s traffic back to the OLD controllers?",
    "computes-upgrade": "Upgrade {env}'s compute nodes in place, one batch at a time (each "
                        "disabled while it is upgraded)? Rollback is refused afterwards",
    "finalize": "Finalize {env}: remove the RPC pins and run the online data migrations "
                "and contracts (no way back to the old release after)?",
}


def run_phase(command: str, inventory, state_dir, as_json: bool, dry_run: bool, yes: bool,
         restart: bool, **options: object) -> None:  # type: ignore[no-untyped-def]
    from sidebyside.actions import ActionSet

    # A dry run reads every secret reference too (without showing it), so that it
    # proves what the real run needs before the window.
    env = environment(inventory, state_dir, check_secrets=True)
    plan = build_plan(env.inventory, command)
    if dry_run:
        if as_json:
            output.emit_json({**plan.to_dict(), "dry_run": True})
        else:
            typer.echo(output.render_plan_text(plan))
            typer.echo("\n(dry run: nothing was changed)")
        return
    confirm(_QUESTIONS[command].format(env=env.inventory.environment), yes)
    reporter = output.ConsoleReporter(quiet=as_json)
    # One set of actions and hosts for the run and an automatic fall-back alike, closed
    # when the command ends however it ends: no ssh control master or directory outlives it.
    try:
        with ActionSet(env) as actions:
            outcome = run_command(env, command, lambda _env: actions, reporter=reporter,
                                  options={**options, "json": as_json}, restart=restart,
                                  argv=sys.argv[1:])
    finally:
        reporter.close()
    steps = env.journal.steps(outcome.run_id)
    if as_json:
        output.emit_json({"run": outcome.run_id, "command": command, "status": "done",
                          "resumed": outcome.resumed,
                          "steps": [{"id": s.step_id, "status": s.status.value,
                                     "duration": s.duration, "result": s.result}
                                    for s in steps]})
    else:
        total = sum(s.duration or 0 for s in steps)
        output.console.print(f"[green]sbs {command} done[/] (run {outcome.run_id}, "
                             f"{len(outcome.steps_run)} steps run, "
                             f"{len(outcome.steps_skipped)} already done, "
                             f"{output.fmt_duration(total)})")


def register(app: typer.Typer) -> None:
    @app.command()
    def prepare(inventory: InventoryOpt = DEFAULT_INVENTORY, state_dir: StateDirOpt = None,
                as_json: JsonOpt = False, dry_run: DryRunOpt = False, yes: YesOpt = False,
                restart: RestartOpt = False,
                redeploy: Annotated[bool, typer.Option(
                    "--redeploy", help="Run the deploy step again even if it succeeded.")]
                = False) -> None:
        """Pre-flight, backup, deploy, copy, translate and db_sync the new controller."""
        run_phase("prepare", inventory, state_dir, as_json, dry_run, yes, restart,
                  redeploy=redeploy)

    @app.command()
    def cutover(inventory: InventoryOpt = DEFAULT_INVENTORY, state_dir: StateDirOpt = None,
                as_json: JsonOpt = False, dry_run: DryRunOpt = False, yes: YesOpt = False,
                restart: RestartOpt = False) -> None:
        """Drain the old services, final sync, switch traffic, verify through the VIP."""
        run_phase("cutover", inventory, state_dir, as_json, dry_run, yes, restart)

    @app.command()
    def rollback(inventory: InventoryOpt = DEFAULT_INVENTORY, state_dir: StateDirOpt = None,
                 as_json: JsonOpt = False, dry_run: DryRunOpt = False, yes: YesOpt = False,
                 restart: RestartOpt = False,
                 accept_data_loss: Annotated[bool, typer.Option(
                     "--accept-data-loss",
                     help="Roll back even though the new side took writes (they are "
                          "exported to a file first).")] = False) -> None:
        """Send traffic back to the untouched old controller."""
        run_phase("rollback", inventory, state_dir, as_json, dry_run, yes, restart,
                  accept_data_loss=accept_data_loss)

    @app.command()
    def finalize(inventory: InventoryOpt = DEFAULT_INVENTORY, state_dir: StateDirOpt = None,
                 as_json: JsonOpt = False, dry_run: DryRunOpt = False, yes: YesOpt = False,
                 restart: RestartOpt = False) -> None:
        """Once every node runs the new release: remove the RPC pins, run the online data
        migrations and pending contracts. Refuses, naming the hosts, while an older
        service is registered."""
        run_phase("finalize", inventory, state_dir, as_json, dry_run, yes, restart)
