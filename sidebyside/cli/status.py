"""`sbs status`: the latest run step by step, with timings."""

from __future__ import annotations

from typing import Annotated

import typer

from sidebyside.cli import output
from sidebyside.cli.common import DEFAULT_INVENTORY, InventoryOpt, JsonOpt, StateDirOpt, environment


def register(app: typer.Typer) -> None:
    @app.command()
    def status(inventory: InventoryOpt = DEFAULT_INVENTORY, state_dir: StateDirOpt = None,
               as_json: JsonOpt = False,
               command: Annotated[str | None, typer.Option(
                   "--command", help="Show the latest run of this command only.")] = None,
               ) -> None:
        """Show the latest run step by step with timings."""
        env = environment(inventory, state_dir)
        if not (env.state_dir / "journal.db").exists():
            if as_json:
                output.emit_json({"environment": env.inventory.environment, "runs": []})
            else:
                output.console.print(f"no runs yet for {env.inventory.environment} "
                                     f"(state dir {env.state_dir})")
            return
        journal = env.journal
        runs = journal.runs(command)
        if as_json:
            output.emit_json({
                "environment": env.inventory.environment,
                "runs": [{"id": r.id, "command": r.command, "status": r.status.value,
                          "started": r.started, "ended": r.ended, "rc": r.rc,
                          "error": r.error,
                          "steps": [{"id": s.step_id, "status": s.status.value,
                                     "attempts": s.attempts, "duration": s.duration,
                                     "error": s.error} for s in journal.steps(r.id)]}
                         for r in runs]})
            return
        if not runs:
            output.console.print("no runs yet")
            return
        for run in runs[-3:]:
            output.render_status(run, journal.steps(run.id))
