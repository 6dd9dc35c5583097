"""One operator at a time per environment: an flock on `<state-dir>/run.lock`.

The holder writes who it is into the lock file so that a second operator is told
who holds it (user, host, pid, command, since). The kernel drops the flock when
the holder dies, even by SIGKILL, so a stale lock never blocks a resume.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from sidebyside.engine.private import PRIVATE_FILE_MODE, private_dir
from sidebyside.errors import LockedError


class RunLock:
    def __init__(self, state_dir: Path, command: str) -> None:
        self.path = state_dir / "run.lock"
        self.command = command
        self._fd: int | None = None

    def holder(self) -> dict[str, object] | None:
        try:
            text = self.path.read_text()
        except OSError:
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return None
        return data if isinstance(data, dict) else None

    def acquire(self) -> None:
        """Raises LockedError naming the holder when another process has the lock."""
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
        os.fchmod(fd, PRIVATE_FILE_MODE)  # one left by an earlier process keeps its mode
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            who = self.holder() or {}
            since = time.strftime("%Y-%m-%d %H:%M:%S",
                                  time.localtime(float(str(who.get("since", 0)))))
            raise LockedError(
                f"another sbs run holds {self.path}: user {who.get('user', '?')} on "
                f"{who.get('host', '?')}, pid {who.get('pid', '?')}, "
                f"`sbs {who.get('command', '?')}` since {since}",
                hint="wait for it to finish, or stop that process") from None
        info = {"user": getpass.getuser(), "host": socket.gethostname(), "pid": os.getpid(),
                "command": self.command, "since": time.time()}
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(info).encode())
        os.fsync(fd)
        self._fd = fd

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
