"""The one small interface every host transport implements."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sidebyside.errors import UnreachableError
from sidebyside.redact import redact

OutputSink = Callable[[str], None]
"""Receives each line of a command's output as it arrives (already redacted)."""


class RemoteError(UnreachableError):
    """A command failed on a host, or the host could not be reached.

    The message names the host, the command and the tail of stderr.
    """

    def __init__(self, host: str, command: str, message: str,
                 *, returncode: int | None = None, stderr_tail: str = "") -> None:
        self.host = host
        self.command = redact(command)
        self.returncode = returncode
        self.stderr_tail = redact(stderr_tail)
        text = f"{host}: `{self.command}` {message}"
        if self.stderr_tail:
            text += f": {self.stderr_tail}"
        super().__init__(text)


@dataclass(frozen=True)
class CommandResult:
    host: str
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


class Host(abc.ABC):
    """A machine sbs acts on. Implementations: LocalHost, SshHost, NetnsHost."""

    name: str

    @abc.abstractmethod
    def run(self, argv: Sequence[str], *, timeout: float = 600.0, check: bool = True,
            input: bytes | None = None, env: dict[str, str] | None = None,
            on_output: OutputSink | None = None, sudo: bool | None = None) -> CommandResult:
        """Run argv on the host. Raises RemoteError on failure (when check) or timeout."""

    @abc.abstractmethod
    def put_file(self, path: str, data: bytes, *, mode: int = 0o600,
                 owner: str | None = None, group: str | None = None) -> None:
        """Write data atomically to path with mode/owner. Raises RemoteError."""

    @abc.abstractmethod
    def read_file(self, path: str) -> bytes:
        """Read a whole file. Raises RemoteError (also when it does not exist)."""

    @abc.abstractmethod
    def exists(self, path: str) -> bool:
        """True when path exists on the host."""

    def get_file(self, path: str, local_path: str) -> None:
        """Copy a file from the host to a local path."""
        from pathlib import Path

        Path(local_path).write_bytes(self.read_file(path))

    def shell(self, script: str, **kwargs) -> CommandResult:  # type: ignore[no-untyped-def]
        """Run a /bin/sh script on the host."""
        return self.run(["sh", "-c", script], **kwargs)


PRIVATE_DIR_TIMEOUT = 60.0


@contextmanager
def private_temp_dir(host: Host, prefix: str) -> Iterator[str]:
    """A fresh directory on `host` that only its user can enter (`mktemp -d`: 0700, an
    unguessable name, so no other user can plant or read files in it, as they could in
    a fixed /var/tmp/sbs), removed with its content however the block ends.

    Raises RemoteError when it cannot be made, or when it cannot be removed after the
    block succeeded (a failure of the block is the error reported, not the clean-up's).
    """
    made = host.run(["mktemp", "-d", "-t", f"{prefix}.XXXXXXXXXX"],
                    timeout=PRIVATE_DIR_TIMEOUT)
    path = made.stdout.strip()
    if not path.startswith("/") or "\n" in path:
        raise RemoteError(host.name, "mktemp -d", f"printed no directory: {path!r}")
    failed = True
    try:
        yield path
        failed = False
    finally:
        try:
            host.run(["rm", "-rf", "--", path], check=not failed,
                     timeout=PRIVATE_DIR_TIMEOUT)
        except RemoteError:
            if not failed:
                raise
