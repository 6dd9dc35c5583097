"""`sbs verify`: smoke checks, resource parity and the old-vs-new API comparison.

Exit 9 when a smoke check, a parity comparison or a compared call fails; calls
flagged slower are reported, not failed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

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
    existing_journal,
    shown_in_json,
)
from sidebyside.cloud.checks import (
    ParityReport,
    RecordedSnapshot,
    SmokeReport,
    describe_difference,
    recorded_snapshot,
)
from sidebyside.cloud.perf import DEFAULT_ROUNDS, DEFAULT_THRESHOLD, ComparisonReport
from sidebyside.engine.journal import Journal, RunStatus
from sidebyside.errors import InputError
from sidebyside.redact import redact

if TYPE_CHECKING:  # openstacksdk takes seconds to import: only when verifying
    from sidebyside.cloud.verify import VerifyReport

_STATUS_STYLE = {"pass": "green", "fail": "bold red", "skip": "yellow"}


def smoke_table(smoke: SmokeReport) -> Table:
    table = Table(title=f"smoke — {smoke.side} (cloud {smoke.cloud})")
    for column in ("Service", "Check", "Result", "Time", "Detail"):
        table.add_column(column, overflow="fold")
    for check in smoke.checks:
        detail = check.detail if check.status != "fail" else f"`{check.call}`: {check.detail}"
        table.add_row(check.service, check.name,
                      f"[{_STATUS_STYLE[check.status]}]{check.status}[/]",
                      f"{check.seconds * 1000:.0f} ms", escape(redact(detail)))
    return table


def parity_table(parity: ParityReport) -> Table:
    table = Table(title=f"parity — {parity.left} vs {parity.right}")
    for column in ("Resource", parity.left, parity.right, "Result"):
        table.add_column(column, overflow="fold")
    for kind in parity.types:
        verdict = "[green]same[/]" if kind.ok else \
            f"[bold red]{escape(describe_difference(kind, parity.left, parity.right))}[/]"
        table.add_row(kind.resource, str(kind.left_count if kind.left_count is not None
                                         else "-"),
                      str(kind.right_count if kind.right_count is not None else "-"), verdict)
    return table


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}"


def comparison_table(report: ComparisonReport) -> Table:
    table = Table(title=f"API latency, ms — {report.rounds} rounds interleaved, "
                        f"flag over {report.threshold:g}x")
    for column in ("Call", "old p50", "new p50", "old p95", "new p95", "old max",
                   "new max", "ratio p50", "ratio p95", ""):
        table.add_column(column, justify="right" if column not in ("Call", "") else "left")
    for call in report.calls:
        flag = "[bold red]SLOWER[/]" if call.slower else ""
        if call.failed:
            flag = f"[bold red]errors: {escape(call.first_error or '')}[/]"
        r50, r95 = call.ratio_p50, call.ratio_p95
        table.add_row(call.scenario, _ms(call.old.p50), _ms(call.new.p50), _ms(call.old.p95),
                      _ms(call.new.p95), _ms(call.old.max), _ms(call.new.max),
                      "-" if r50 is None else f"{r50:.2f}x",
                      "-" if r95 is None else f"{r95:.2f}x", flag)
    return table


def capacity_table(report: ComparisonReport) -> Table:
    table = Table(title="host capacity")
    for column in ("Side", "Host", "CPUs", "Memory"):
        table.add_column(column)
    for side, hosts in report.capacity.items():
        for host in hosts:
            memory = "-" if host.memory_bytes is None else f"{host.memory_bytes / 2**30:.1f} GiB"
            table.add_row(side, host.host, "-" if host.cpus is None else str(host.cpus),
                          memory if not host.error else f"[red]{escape(host.error)}[/]")
    return table


def vip_serves(journal: Journal | None) -> str | None:
    """The side the VIP serves as the journal tells it: `new` once a cutover finished
    and no rollback followed, `old` before any cutover or after a finished rollback,
    None when that is not known (no journal; a cutover or rollback under way or
    stopped midway). Verification writes through the VIP only on `new`."""
    if journal is None:
        return None
    moves = [run for run in journal.runs() if run.command in ("cutover", "rollback")]
    if not moves:
        return "old"
    last = moves[-1]
    if last.command == "cutover":
        return {RunStatus.DONE: "new", RunStatus.ROLLED_BACK: "old"}.get(last.status)
    return "old" if last.status == RunStatus.DONE else None


def register(app: typer.Typer) -> None:
    @app.command()
    def verify(
        inventory: InventoryOpt = DEFAULT_INVENTORY, state_dir: StateDirOpt = None,
        as_json: JsonOpt = False,
        side: Annotated[str, typer.Option(
            "--side", help="Which cloud to smoke-test: old, new (directly) or vip.")] = "vip",
        compare: Annotated[bool, typer.Option(
            "--compare", help="Also time a fixed set of API calls on old and new.")] = False,
        rounds: Annotated[int, typer.Option(
            "--rounds", min=1, help="Rounds of the comparison.")] = DEFAULT_ROUNDS,
        threshold: Annotated[float, typer.Option(
            "--threshold", help="Flag calls whose median is this many times slower "
                                "on new.")] = DEFAULT_THRESHOLD,
        parity: Annotated[bool | None, typer.Option(
            "--parity/--no-parity", help="Compare resources, ids and content (default: on for new, "
            "and for vip once a cutover recorded a snapshot).")] = None,
        read_only: Annotated[bool, typer.Option(
            "--read-only", help="Only read: no create/delete of sbs's own test resources, "
            "which otherwise run on new, and through the VIP once a finished cutover "
            "serves new (never on old).")] = False,
    ) -> None:
        """Smoke-test a cloud, compare its resources, time old against new."""
        from sidebyside.cloud.verify import SIDE_CHOICES, run_verify, write_report_files
        from sidebyside.remote.inventory_hosts import Hosts

        if side not in SIDE_CHOICES:
            raise InputError(f"--side must be one of {', '.join(SIDE_CHOICES)}, not {side!r}")
        env = environment(inventory, state_dir)
        journal = existing_journal(env) if side == "vip" else None
        recorded = recorded_snapshot(journal.fact) if journal else RecordedSnapshot(None, None)
        hosts = Hosts(env.inventory) if compare else None
        try:
            # a finished cutover leaves the VIP serving new with writes open (thawed)
            serving = vip_serves(journal) if side == "vip" else None
            report = run_verify(env.inventory, side=side, parity=parity,
                                before=recorded.snapshot, do_compare=compare, rounds=rounds,
                                threshold=threshold, host_of=hosts,
                                snapshot_services=recorded.services,
                                vip_serves=serving, vip_takes_writes=serving == "new",
                                read_only=read_only)
        finally:
            if hosts is not None:
                hosts.close()
            env.close()
        write_report_files(report, env.state_dir / "reports")
        if as_json:
            output.emit_json(report.to_dict())
        else:
            _print(report)
        with shown_in_json(as_json):
            report.raise_if_failed()


def _print(report: VerifyReport) -> None:
    console = output.console
    if report.smoke:
        console.print(smoke_table(report.smoke))
    if report.parity:
        if report.parity.error:
            console.print(f"[bold red]parity not compared:[/] {escape(report.parity.error)}")
        else:
            console.print(parity_table(report.parity))
    if report.comparison:
        console.print(comparison_table(report.comparison))
        if report.comparison.capacity:
            console.print(capacity_table(report.comparison))
        flagged = report.comparison.flagged
        if flagged:
            console.print(f"[yellow]{len(flagged)} call(s) slower on new than "
                          f"{report.comparison.threshold:g}x old: "
                          f"{', '.join(c.scenario for c in flagged)}[/]")
    for note in report.notes:
        console.print(f"[dim]{escape(note)}[/]")
    for what, path in report.files.items():
        console.print(f"{what}: {path}")
    console.print("[green]verified[/]" if report.ok else "[bold red]verification failed[/]")
