"""Run a deploy command (Chef, Puppet, a script) with `sh -c` where the operator runs sbs.

The process plumbing (own process group, streamed lines, timeout that kills the whole
group) is `LocalHost`'s; this module only decides what the command gets and what
counts as success.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sidebyside.remote.base import RemoteError
from sidebyside.remote.local import LocalHost

LOCAL_NAME = "sbs-controller"  # the machine sbs runs on, in messages


@dataclass(frozen=True)
class CommandOutcome:
    returncode: int | None   # None: it did not finish (timeout, could not start)
    error: str | None        # why it did not finish
    output_tail: list[str]
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run_deploy_command(command: str, *, env: Mapping[str, str], cwd: str | None,
                       timeout: float, on_log: Callable[[str], None],
                       tail_lines: int = 15) -> CommandOutcome:
    """Run `command` through `sh -c`, each output line (redacted) to `on_log`.

    Never raises for the command's own failure: the outcome says what happened.
    """
    tail: list[str] = []

    def line(text: str) -> None:
        tail.append(text)
        del tail[:-tail_lines]
        on_log(text)

    # `cd` inside the script rather than a cwd argument: the Host interface has none.
    script = f"cd {shlex.quote(cwd)} && {{\n{command}\n}}" if cwd else command
    started = time.monotonic()
    try:
        result = LocalHost(LOCAL_NAME).run(["sh", "-c", script], timeout=timeout, check=False,
                                           env=dict(env), on_output=line)
    except RemoteError as exc:
        return CommandOutcome(returncode=exc.returncode, error=exc.message, output_tail=tail,
                              seconds=time.monotonic() - started)
    return CommandOutcome(returncode=result.returncode, error=None, output_tail=tail,
                          seconds=time.monotonic() - started)

