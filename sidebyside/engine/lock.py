"""One operator at a time per environment: an flock on `<state-dir>/run.lock`.

The holder writes who it is into the lock file so that a second operator is told
who holds it (user, host, pid, command, since). The kernel drops the flock when
the holder dies, even by SIGKILL, so a stale lock never blocks a resume.

The file is empty when free and sbs's own JSON while held (or after a holder died).
Anything else (a directory, a symbolic link, other content) was not left by sbs:
it is refused, naming the file, rather than trusted or silently overwritten.
"""

from __future__ import annotations

import errno
import fcntl
import getpass
import json
import os
import socket
import stat
import time
from pathlib import Path
from types import TracebackType

from sidebyside.engine.private import PRIVATE_FILE_MODE, private_dir
from sidebyside.errors import InputError, LockedError

_HOLDER_KEYS = {"user", "host", "pid", "command", "since"}
_MAX_HOLDER_BYTES = 4096


class MalformedLock(InputError):
    """The lock file is not one sbs wrote: not a regular file, or unknown content."""

    kind = "malformed-lock"


def _parse_holder(content: bytes) -> dict[str, object] | None:
    """The holder sbs wrote, or None when `content` is not that."""
    try:
        data = json.loads(content.decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or set(data) != _HOLDER_KEYS:
        return None
    if not isinstance(data["since"], int | float) or not isinstance(data["pid"], int):
        return None
    return data


class RunLock:
    def __init__(self, state_dir: Path, command: str) -> None:
        self.path = state_dir / "run.lock"
        self.command = command
        self._fd: int | None = None

    def holder(self) -> dict[str, object] | None:
        """Who holds (or last held) the lock, when the file says so."""
        try:
            with open(self.path, "rb") as handle:
                return _parse_holder(handle.read(_MAX_HOLDER_BYTES))
        except OSError:
            return None

    def check_form(self) -> None:
        """Raises MalformedLock when the lock file exists but is not one sbs wrote."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self._unopenable(exc) from None
        try:
            self._check_open_file(fd)
        finally:
            os.close(fd)

    def acquire(self) -> None:
        """Raises LockedError naming the holder when another process has the lock,
        MalformedLock (exit 2) when the lock file is not one sbs wrote."""
        private_dir(self.path.parent)
        try:
            # Never through a symbolic link: the holder's details would be written,
            # and the file truncated, wherever it points. Non-blocking: a FIFO put there
            # is refused below instead of hanging the open.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK,
                         PRIVATE_FILE_MODE)
        except OSError as exc:
            raise self._unopenable(exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            who = self.holder() or {}  # unknown when its content is not sbs's
            since = (time.strftime("%Y-%m-%d %H:%M:%S",
                                   time.localtime(float(str(who["since"]))))
                     if "since" in who else "?")
            raise LockedError(
                f"another sbs run holds {self.path}: user {who.get('user', '?')} on "
                f"{who.get('host', '?')}, pid {who.get('pid', '?')}, "
                f"`sbs {who.get('command', '?')}` since {since}",
                hint="wait for it to finish, or stop that process") from None
        try:
            self._check_open_file(fd)
            os.fchmod(fd, PRIVATE_FILE_MODE)  # one left by an earlier process keeps its mode
        except BaseException:
            os.close(fd)  # drops the flock too
            raise
        info = {"user": getpass.getuser(), "host": socket.gethostname(), "pid": os.getpid(),
                "command": self.command, "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        os.fsync(fd)
        self._fd = fd

    def _check_open_file(self, fd: int) -> None:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise self._malformed("is not a regular file")
        content = os.pread(fd, _MAX_HOLDER_BYTES, 0)
        if content.strip() and _parse_holder(content) is None:
            raise self._malformed("holds something sbs did not write")

    def _unopenable(self, exc: OSError) -> MalformedLock:
        if exc.errno == errno.ELOOP:  # what O_NOFOLLOW answers for a symbolic link
            return self._malformed("is a symbolic link")
        return self._malformed(f"cannot be opened ({exc.strerror})")

    def _malformed(self, what: str) -> MalformedLock:
        return MalformedLock(
            f"lock file {self.path} {what}",
            hint=f"sbs keeps only an empty file or its own holder details there: make sure "
                 f"no sbs command is running for this environment, remove {self.path}, "
                 "and re-run")

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
