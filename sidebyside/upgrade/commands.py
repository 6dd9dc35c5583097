"""Running one catalog command on a host: argv from a template, a timeout, the output
captured in arrival order, and the error that carries its tail.

A template is split into words before its placeholders are filled, so a database
URL with odd characters stays one argument and is never seen by a shell.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sidebyside.errors import InputError, SbsError, StepFailed
from sidebyside.redact import redact
from sidebyside.remote.base import Host, RemoteError

LogSink = Callable[[str], None]
TAIL_LINES = 20


class CommandFailed(SbsError):
    """A service command on the new controller failed, timed out or never converged.

    `output_tail` is the (redacted) end of what the service printed.
    """

    exit_code = StepFailed.exit_code
    kind = "command-failed"

    def __init__(self, service: str, stage: str, message: str, *,
                 returncode: int | None = None, output_tail: str = "",
                 hint: str | None = None) -> None:
        self.service = service
        self.stage = stage
        self.returncode = returncode
        self.output_tail = redact(output_tail)
        text = f"{service} {stage}: {redact(message)}"
        if self.output_tail:
            text += "\n" + self.output_tail
        super().__init__(text, hint=hint)


def render(template: str, values: Mapping[str, str]) -> list[str]:
    """argv of a catalog template. Raises InputError naming a missing placeholder."""
    try:
        words = shlex.split(template)
    except ValueError as exc:
        raise InputError(f"catalog command {template!r} cannot be split: {exc}") from None
    try:
        return [word.format_map(values) for word in words]
    except KeyError as exc:
        raise InputError(f"catalog command {template!r} needs a value for "
                         f"{{{exc.args[0]}}}") from None


def display(argv: Sequence[str]) -> str:
    return redact(shlex.join(argv))


def output_tail(lines: Sequence[str], count: int = TAIL_LINES) -> str:
    return redact("\n".join(line.rstrip() for line in list(lines)[-count:]))


@dataclass(frozen=True)
class CommandRun:
    """One finished execution: exit code, wall time and every output line in order."""

    argv: tuple[str, ...]
    returncode: int
    seconds: float
    lines: tuple[str, ...]
    stdout: str
    stderr: str = ""

    @property
    def tail(self) -> str:
        """The last lines printed, and stderr's last lines if they are not among them:
        stdout and stderr arrive on two pipes, so the error may have streamed earlier."""
        tail = output_tail(self.lines)
        errors = output_tail(self.stderr.strip().splitlines(), 5)
        if errors and errors not in tail:
            tail = f"{tail}\n(stderr) {errors}" if tail else errors
        return tail

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def execute(host: Host, argv: Sequence[str], *, service: str, stage: str,
            timeout: float, log: LogSink) -> CommandRun:
    """Run argv on host without raising on its exit code.

    Raises CommandFailed when it cannot be started or runs past `timeout` (the
    tail of what it printed so far is in the error).
    """
    lines: list[str] = []

    def sink(line: str) -> None:
        lines.append(line)
        log(f"  {line}")

    log(f"{service} {stage}: $ {display(argv)}")
    started = time.monotonic()
    try:
        result = host.run(list(argv), timeout=timeout, check=False, on_output=sink)
    except RemoteError as exc:
        raise CommandFailed(service, stage, exc.message,
                            output_tail=output_tail(lines) or exc.stderr_tail) from None
    seconds = time.monotonic() - started
    if not lines:  # a Host that does not stream: keep its buffered output
        lines = (result.stdout + "\n" + result.stderr).strip().splitlines()
        for line in lines:
            log(f"  {line}")
    log(f"{service} {stage}: exit {result.returncode} after {seconds:.1f}s")
    return CommandRun(argv=tuple(argv), returncode=result.returncode, seconds=seconds,
                      lines=tuple(lines), stdout=result.stdout, stderr=result.stderr)


@dataclass
class StageRun:
    """What one db_sync stage did: every exit code (one per round), its time."""

    name: str
    command: str
    returncodes: list[int] = field(default_factory=list)
    seconds: float = 0.0
    output_tail: str = ""
    note: str = ""

    @property
    def rounds(self) -> int:
        return len(self.returncodes)

    def add(self, run: CommandRun) -> None:
        self.returncodes.append(run.returncode)
        self.seconds += run.seconds
        self.output_tail = run.tail

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "command": self.command,
                                "returncodes": self.returncodes, "rounds": self.rounds,
                                "seconds": round(self.seconds, 3),
                                "output_tail": self.output_tail}
        if self.note:
            data["note"] = self.note
        return data


@dataclass
class SyncResult:
    """One service's db_sync for one release, stage by stage (the journal keeps it)."""

    service: str
    release: str
    stages: list[StageRun] = field(default_factory=list)
    seconds: float = 0.0

    def durations(self) -> dict[str, float]:
        """Seconds per stage name (a check run several times is summed)."""
        totals: dict[str, float] = {}
        for stage in self.stages:
            totals[stage.name] = round(totals.get(stage.name, 0.0) + stage.seconds, 3)
        return totals

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "release": self.release,
                "seconds": round(self.seconds, 3), "durations": self.durations(),
                "stages": [s.to_dict() for s in self.stages]}
