"""Everything the CLI prints: text with rich, or one JSON document with --json."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sidebyside.engine.journal import RunRecord, StepRecord, StepStatus
from sidebyside.errors import SbsError
from sidebyside.redact import redact, redact_obj

if TYPE_CHECKING:  # the db commands start without the planner (and its pydantic models)
    from sidebyside.plan.model import Plan, Step

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(redact_obj(data), indent=2, default=str) + "\n")


def print_error(exc: SbsError, as_json: bool) -> None:
    if as_json:
        emit_json(exc.to_dict())
        return
    lines = redact(exc.message).splitlines() or [""]
    err_console.print(f"[bold red]error:[/] {escape(lines[0])}")
    for line in lines[1:]:
        err_console.print(f"       {escape(line)}")
    if exc.hint:
        err_console.print(f"[dim]hint:[/] {escape(redact(exc.hint))}")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def render_plan_text(plan: Plan, estimates: dict[str, float] | None = None) -> str:
    lines = [f"sbs {plan.command} — environment {plan.environment}, {len(plan.steps)} steps", ""]
    width = len(str(len(plan.steps)))
    for n, step in enumerate(plan.steps, start=1):
        extra = []
        if step.hosts:
            extra.append("on " + ", ".join(step.hosts))
        if estimates and step.id in estimates:
            extra.append(f"~{fmt_duration(estimates[step.id])}")
        suffix = f"  [{'; '.join(extra)}]" if extra else ""
        lines.append(f"{n:>{width}}. {step.title}{suffix}")
        rerun = "safe to re-run" if step.rerunnable else "NOT safe to re-run"
        lines.append(f"{' ' * width}  id {step.id}; changes {step.changes.value}; {rerun}")
    fallback = _fallback_note(plan)
    return "\n".join([*lines, "", fallback] if fallback else lines)


def render_plan_markdown(plan: Plan, estimates: dict[str, float] | None = None) -> str:
    lines = [f"# sbs {plan.command}: {plan.environment}", "",
             "| # | Step | Changes | Hosts | Re-run | Estimate |",
             "|---|------|---------|-------|--------|----------|"]
    for n, step in enumerate(plan.steps, start=1):
        est = fmt_duration(estimates.get(step.id)) if estimates and step.id in estimates else ""
        lines.append(f"| {n} | {step.title} (`{step.id}`) | {step.changes.value} | "
                     f"{', '.join(step.hosts)} | {'yes' if step.rerunnable else 'no'} | "
                     f"{est} |")
    fallback = _fallback_note(plan)
    return "\n".join([*lines, "", fallback] if fallback else lines)


def _fallback_note(plan: Plan) -> str | None:
    """What the guarded run does when a cutover step fails (engine/guarded_run.py)."""
    first = plan.automatic_rollback_from()
    if first is None:
        return None
    return (f"If step {first + 1} ({plan.steps[first].id}) or any later step fails, sbs "
            "runs the rollback plan (`sbs plan rollback`, the one `sbs rollback` runs)\n"
            "by itself: traffic goes back to the old side and the command exits 5 (6 if "
            "the rollback fails too).\nA failure before it stops the run: fix the cause "
            "and re-run `sbs cutover` to resume it, or run `sbs rollback`.")


_STATUS_STYLE = {
    StepStatus.DONE: "green", StepStatus.FAILED: "bold red", StepStatus.RUNNING: "yellow",
    StepStatus.PENDING: "dim", StepStatus.SKIPPED: "cyan",
}


def render_status(run: RunRecord, steps: list[StepRecord]) -> None:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.started))
    console.print(f"run {run.id}: sbs {run.command} on {run.environment} — "
                  f"[bold]{run.status.value}[/] (started {started} by {run.user}@{run.host}, "
                  f"pid {run.pid})")
    table = Table(show_header=True, header_style="bold")
    for col in ("#", "step", "status", "tries", "duration", "error"):
        table.add_column(col)
    for s in steps:
        style = _STATUS_STYLE.get(s.status, "")
        table.add_row(str(s.seq + 1), s.step_id, f"[{style}]{s.status.value}[/]",
                      str(s.attempts), fmt_duration(s.duration), escape(s.error or ""))
    console.print(table)
    if run.error:
        console.print(f"[red]{escape(run.error)}[/]")


class ConsoleReporter:
    """Step-level progress bar; each step's log lines scroll above it."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self._progress: Progress | None = None
        self._task: Any = None

    def run_started(self, plan: Plan, run_id: int, resumed: bool) -> None:
        if self.quiet:
            return
        what = "resuming" if resumed else "starting"
        err_console.print(f"[bold]{what} run {run_id}[/]: sbs {plan.command} "
                          f"({len(plan.steps)} steps) on {plan.environment}")
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                  TextColumn("{task.completed}/{task.total}"),
                                  TimeElapsedColumn(), console=err_console, transient=True)
        self._task = self._progress.add_task(plan.command, total=len(plan.steps))
        self._progress.start()

    def step_started(self, step: Step, index: int, total: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=index - 1,
                                  description=f"[{index}/{total}] {step.id}")

    def step_finished(self, step: Step, status: StepStatus, duration: float,
                      error: str | None) -> None:
        if self.quiet:
            return
        mark = "[green]✓[/]" if status == StepStatus.DONE else "[red]✗[/]"
        err_console.print(f"{mark} {escape(step.title)} [dim]({fmt_duration(duration)})[/]")
        if error:
            err_console.print(f"  [red]{escape(redact(error))}[/]")
        if self._progress is not None:
            self._progress.advance(self._task)

    def log(self, step: Step, line: str) -> None:
        if not self.quiet:
            err_console.print(f"  [dim]{escape(line)}[/]")

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
