"""`sbs check`: the pre-flight report (exit code 3 when anything blocks)."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from sidebyside.cli import output
from sidebyside.cli.common import (
    DEFAULT_INVENTORY,
    InventoryOpt,
    JsonOpt,
    StateDirOpt,
    environment,
    shown_in_json,
)
from sidebyside.redact import redact
from sidebyside.remote.inventory_hosts import Hosts
from sidebyside.upgrade.preflight import PreflightReport, run_preflight

_STYLE = {"ok": "green", "warning": "yellow", "blocker": "bold red"}


def render_report(report: PreflightReport) -> Table:
    table = Table(title=f"sbs check — {report.environment}: {report.old_release} -> "
                        f"{report.new_release}", show_lines=False)
    for column in ("Severity", "Check", "Subject", "Finding"):
        table.add_column(column, overflow="fold")
    for r in report.results:
        finding = escape(redact(r.message)) + (f"\n[dim]{escape(redact(r.advice))}[/]"
                                       if r.advice else "")
        table.add_row(f"[{_STYLE[r.severity]}]{r.severity}[/]", escape(r.check),
                      escape(redact(r.subject)), finding)
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def check(inventory: InventoryOpt = DEFAULT_INVENTORY, state_dir: StateDirOpt = None,
              as_json: JsonOpt = False) -> None:
        """Pre-flight checks: hosts, databases, releases, disk, capacity, removed APIs."""
        env = environment(inventory, state_dir, check_secrets=True)
        hosts = Hosts(env.inventory)
        try:
            report = run_preflight(env, hosts=hosts)
        finally:
            hosts.close()  # ssh control masters end with the command
        if as_json:
            output.emit_json(report.to_dict())
        else:
            output.console.print(render_report(report))
            output.console.print(f"{len(report.blockers)} blocker(s), "
                                 f"{len(report.warnings)} warning(s) in "
                                 f"{report.seconds:.1f}s")
        with shown_in_json(as_json):
            report.raise_if_blocked()
