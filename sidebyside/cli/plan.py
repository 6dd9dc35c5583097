"""`sbs plan`: the numbered runbook an operator pastes into the change ticket."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from sidebyside.cli import output
from sidebyside.cli.common import (
    DEFAULT_INVENTORY,
    InventoryOpt,
    JsonOpt,
    StateDirOpt,
    environment,
    existing_journal,
)
from sidebyside.plan import build_plan
from sidebyside.plan.builder import COMMANDS
from sidebyside.plan.estimate import estimate_window

# `sbs plan computes` is the runbook of `sbs computes upgrade`
PLAN_ALIASES = {"computes": "computes-upgrade"}


class Format(StrEnum):
    text = "text"
    md = "md"
    json = "json"


def register(app: typer.Typer) -> None:
    @app.command("plan")
    def plan_command(
        command: Annotated[str, typer.Argument(
            help="prepare, cutover, rollback, computes (the compute nodes' upgrade) or "
                 "finalize.")] = "cutover",
        inventory: InventoryOpt = DEFAULT_INVENTORY,
        state_dir: StateDirOpt = None,
        fmt: Annotated[Format, typer.Option("--format", help="text, md or json.")] = Format.text,
        as_json: JsonOpt = False,
    ) -> None:
        """Print the ordered steps of a command, with the downtime estimate for cutover."""
        from sidebyside.errors import InputError

        command = PLAN_ALIASES.get(command, command)
        if command not in COMMANDS:
            raise InputError(f"unknown command {command!r}: use prepare, cutover, rollback, "
                             "computes or finalize")
        # Every secret reference is read now (never shown): a password file the run
        # could not read fails here, not in the middle of the window.
        env = environment(inventory, state_dir, check_secrets=True)
        plan = build_plan(env.inventory, command)
        journal = existing_journal(env)
        window = estimate_window(plan, env.inventory, journal.step_durations() if journal else {})
        if as_json or fmt == Format.json:
            rolls_back_from = plan.automatic_rollback_from()
            output.emit_json({**plan.to_dict(), "estimate": window.to_dict(),
                              "automatic_rollback_from": None if rolls_back_from is None
                              else plan.steps[rolls_back_from].id})
            return
        estimates = {k: v.seconds for k, v in window.steps.items() if v.source != "unknown"}
        if fmt == Format.md:
            typer.echo(output.render_plan_markdown(plan, estimates))
        else:
            typer.echo(output.render_plan_text(plan, estimates))
        if command == "cutover":
            typer.echo("")
            typer.echo(window.summary())
