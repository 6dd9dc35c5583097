"""Run commands on this machine, and the process plumbing every transport shares.

Every transport ends up spawning a local process: `LocalHost` runs argv itself,
`NetnsHost` runs `ip netns exec ...`, `SshHost` runs the OpenSSH client. So the
one place that starts a process, streams its output, enforces the timeout and
builds the error is `run_process` here, and `ProcessHost` holds the file
operations that work over any command channel (used by ssh, and by a local host
that needs sudo to touch the file).
"""

from __future__ import annotations

import abc
import grp
import logging
import os
import pwd
import re
import shlex
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO

from sidebyside.errors import InputError
from sidebyside.redact import redact
from sidebyside.remote.base import CommandResult, Host, OutputSink, RemoteError, tail

log = logging.getLogger(__name__)

# Once the process has ended, how long to wait for the rest of its output. A daemon it
# started (or ssh's control master, after a timeout) can hold the pipes open long after.
_PIPE_DRAIN_SECONDS = 2.0
_READ_SIZE = 1 << 16
_MAX_SHOWN_LINE = 8192
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def display_command(argv: Sequence[str]) -> str:
    """How a command is shown in errors and logs: shell-quoted, as it would be typed."""
    return shlex.join(argv)


def env_assignments(env: dict[str, str] | None) -> list[str]:
    """`NAME=value` words for `env(1)`.

    Raises InputError when a name is not a valid environment variable name (it would
    otherwise be taken for the command by `env`).
    """
    words = []
    for name, value in (env or {}).items():
        if not _ENV_NAME.match(name):
            raise InputError(f"invalid environment variable name {name!r}")
        words.append(f"{name}={value}")
    return words


def privileged_argv(argv: Sequence[str], *, env: dict[str, str] | None, sudo: bool) -> list[str]:
    """argv with the environment passed through `env(1)` and, when asked, run via `sudo -n`.

    `sudo -n` never prompts: without a password-less sudo rule it fails at once
    instead of hanging a batch run. The environment goes through `env` because
    sudo resets it and ssh only forwards what the server's AcceptEnv allows; note
    that those values then appear in the command line, so pass secrets on stdin.

    Raises InputError for an invalid environment variable name.
    """
    words = list(argv)
    assignments = env_assignments(env)
    if assignments:
        words = ["env", *assignments, *words]
    if sudo:
        words = ["sudo", "-n", "--", *words]
    return words


def run_process(host: str, spawn: Sequence[str], *, shown: Sequence[str],
                timeout: float, check: bool, input: bytes | None = None,
                env: dict[str, str] | None = None,
                on_output: OutputSink | None = None) -> tuple[CommandResult, bytes]:
    """Run a local process; return its result and its raw stdout bytes.

    `spawn` is what is executed; `shown` is the command the caller asked for (used in
    the result and in errors, so an ssh wrapper never hides the real command). Output
    lines of stdout and stderr go to `on_output`, redacted, as they arrive. The
    process gets its own process group so that a timeout kills everything it started.
    `CommandResult.stdout/stderr` are not redacted (callers parse them); log them
    only through `redact`.

    Raises RemoteError when the program cannot be started, on timeout, and (when
    `check`) on a non-zero exit status.
    """
    command = display_command(shown)
    log.debug("%s: run %s", host, redact(command))
    started = time.monotonic()
    try:
        process = subprocess.Popen(
            list(spawn),
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, **env} if env else None,
            start_new_session=True,
        )
    except OSError as exc:
        raise RemoteError(host, command, f"could not start {spawn[0]!r}: {exc.strerror}") from exc

    stdout_chunks: list[bytes] = []
    stderr_chunks: list[bytes] = []
    returned = threading.Event()
    sink = _serialized(on_output, returned)
    assert process.stdout is not None and process.stderr is not None
    threads = [
        threading.Thread(target=_pump, args=(process.stdout, stdout_chunks, sink), daemon=True),
        threading.Thread(target=_pump, args=(process.stderr, stderr_chunks, sink), daemon=True),
    ]
    if input is not None:
        assert process.stdin is not None
        threads.append(threading.Thread(target=_feed, args=(process.stdin, input), daemon=True))
    for thread in threads:
        thread.start()

    timed_out = False
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(process)
    finally:
        if process.poll() is None:  # interrupted (KeyboardInterrupt): leave nothing behind
            _kill_group(process)
    drain_deadline = time.monotonic() + _PIPE_DRAIN_SECONDS
    for thread in threads:
        thread.join(max(0.0, drain_deadline - time.monotonic()))
    if any(thread.is_alive() for thread in threads):
        log.warning("%s: `%s` ended but a process it started still holds its output; "
                    "not waiting for the rest", host, redact(command))
    returned.set()

    stdout_raw = b"".join(list(stdout_chunks))
    stderr = b"".join(list(stderr_chunks)).decode("utf-8", "replace")
    if timed_out:
        raise RemoteError(host, command, f"timed out after {timeout:g}s",
                          stderr_tail=error_tail(stderr))
    result = CommandResult(host=host, argv=tuple(shown), returncode=process.returncode,
                           stdout=stdout_raw.decode("utf-8", "replace"), stderr=stderr,
                           duration=time.monotonic() - started)
    if check and not result.ok:
        raise command_failed(result)
    return result, stdout_raw


def command_failed(result: CommandResult, reason: str | None = None) -> RemoteError:
    """The error for a finished command: names host, command, status and stderr tail."""
    return RemoteError(result.host, display_command(result.argv),
                       reason or f"exited with status {result.returncode}",
                       returncode=result.returncode, stderr_tail=error_tail(result.stderr))


def error_tail(stderr: str, *, lines: int = 15, width: int = 1000) -> str:
    """The last lines of stderr for an error message, each clipped to `width` characters."""
    return "\n".join(line if len(line) <= width else line[:width] + " [clipped]"
                     for line in tail(stderr, lines).splitlines())


def _serialized(on_output: OutputSink | None,
                returned: threading.Event) -> Callable[[str], None] | None:
    """One callback at a time (stdout and stderr are read by two threads), and none
    after `run_process` has returned."""
    if on_output is None:
        return None
    lock = threading.Lock()
    broken = threading.Event()

    def emit(line: str) -> None:
        with lock:
            if returned.is_set() or broken.is_set():
                return
            try:
                on_output(redact(line))
            except Exception:
                # The pipes must still be drained, or the command blocks on a full pipe.
                broken.set()
                log.exception("output callback failed; not showing the rest of the output")

    return emit


def _pump(stream: IO[bytes], chunks: list[bytes], sink: Callable[[str], None] | None) -> None:
    """Collect a pipe in large reads; when someone watches, hand them each whole line."""
    read = getattr(stream, "read1", stream.read)
    with stream:
        if sink is None:
            for block in iter(lambda: read(_READ_SIZE), b""):
                chunks.append(block)
            return
        splitter = _LineSplitter(sink)
        for block in iter(lambda: read(_READ_SIZE), b""):
            chunks.append(block)
            splitter.feed(block)
        splitter.finish()


class _LineSplitter:
    """Bytes in, display lines out. A line longer than `_MAX_SHOWN_LINE` is shown clipped:
    megabyte lines (a base64 blob, a minified file) are no use on a console and would
    make redaction slow."""

    def __init__(self, sink: Callable[[str], None]) -> None:
        self._sink = sink
        self._pending = bytearray()
        self._clipped = False  # the current line was already shown clipped

    def feed(self, block: bytes) -> None:
        *lines, rest = block.split(b"\n")
        for line in lines:
            self._pending += line
            self._emit(final=True)
        self._pending += rest
        if len(self._pending) > _MAX_SHOWN_LINE:
            self._emit(final=False)

    def finish(self) -> None:
        if self._pending:
            self._emit(final=True)

    def _emit(self, *, final: bool) -> None:
        if not self._clipped:
            text = bytes(self._pending[:_MAX_SHOWN_LINE]).decode("utf-8", "replace")
            if len(self._pending) > _MAX_SHOWN_LINE:
                text += " [line clipped]"
            self._sink(text.rstrip("\r"))
        self._pending.clear()
        self._clipped = not final


def _feed(stream: IO[bytes], data: bytes) -> None:
    # A command may exit without reading all of its input; that is its business.
    try:
        with stream:
            stream.write(data)
    except OSError:  # BrokenPipeError among others
        pass


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


# The file operations over a command channel. Paths and parameters are positional
# arguments of the script, never spliced into it, so no path can inject shell code.
_PUT_SCRIPT = r"""set -eu
target=$1 mode=$2 ownership=$3
dir=$(dirname -- "$target") base=$(basename -- "$target")
tmp=$(mktemp "$dir/.$base.sbs-XXXXXX")
trap 'rm -f -- "$tmp"' EXIT
cat > "$tmp"
sync -- "$tmp" 2>/dev/null || sync
chmod "$mode" "$tmp"
if [ -n "$ownership" ]; then chown -- "$ownership" "$tmp"; fi
mv -f -- "$tmp" "$target"
trap - EXIT
sync -- "$dir" 2>/dev/null || :
"""


def pid_alive(pid: int | None) -> bool:
    """True when process `pid` runs on this machine (a zombie, exited but not reaped,
    does not count)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat_file:
            stat = stat_file.read()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def put_file_argv(path: str, *, mode: int, owner: str | None, group: str | None) -> list[str]:
    """The argv that writes stdin atomically to `path` (temp file in the same dir, fsync,
    chmod/chown, rename) on any POSIX host."""
    ownership = (owner or "") + (f":{group}" if group else "")
    return ["sh", "-c", _PUT_SCRIPT, "sbs-put-file", path, f"{mode:o}", ownership]


class ProcessHost(Host):
    """A host reached by running a local process; subclasses say which argv to spawn.

    The file operations here go through `run` (`sh`, `cat`, `test`), so they work on
    any host that can run commands, with sudo when the host asks for it.
    """

    def __init__(self, name: str, *, sudo: bool = False) -> None:
        self.name = name
        self.sudo = sudo

    @abc.abstractmethod
    def _spawn(self, argv: Sequence[str], *, env: dict[str, str] | None,
               sudo: bool) -> tuple[list[str], dict[str, str] | None]:
        """The local argv to execute and the environment to give it."""

    def run(self, argv: Sequence[str], *, timeout: float = 600.0, check: bool = True,
            input: bytes | None = None, env: dict[str, str] | None = None,
            on_output: OutputSink | None = None, sudo: bool | None = None) -> CommandResult:
        """Run argv on the host. Raises RemoteError on failure (when check) or timeout,
        InputError on an invalid environment variable name."""
        return self._run(argv, timeout=timeout, check=check, input=input, env=env,
                         on_output=on_output, sudo=sudo)[0]

    def _run(self, argv: Sequence[str], *, timeout: float = 600.0, check: bool = True,
             input: bytes | None = None, env: dict[str, str] | None = None,
             on_output: OutputSink | None = None,
             sudo: bool | None = None) -> tuple[CommandResult, bytes]:
        if not argv:
            raise InputError(f"{self.name}: empty command")
        spawn, spawn_env = self._spawn(argv, env=env, sudo=self.sudo if sudo is None else sudo)
        return run_process(self.name, spawn, shown=argv, timeout=timeout, check=check,
                           input=input, env=spawn_env, on_output=on_output)

    def put_file(self, path: str, data: bytes, *, mode: int = 0o600,
                 owner: str | None = None, group: str | None = None) -> None:
        """Write data atomically to path with mode/owner. Raises RemoteError."""
        self.run(put_file_argv(path, mode=mode, owner=owner, group=group), input=data,
                 timeout=_file_timeout(len(data)))

    def read_file(self, path: str) -> bytes:
        """Read a whole file. Raises RemoteError (also when it does not exist)."""
        return self._run(["cat", "--", path])[1]

    def exists(self, path: str) -> bool:
        """True when path exists on the host. Raises RemoteError when the check itself fails."""
        result = self.run(["test", "-e", path], check=False, timeout=60)
        if result.returncode in (0, 1):
            return result.returncode == 0
        raise command_failed(result)


def _file_timeout(size: int) -> float:
    # Generous: one minute plus one second per MiB, enough for slow links.
    return 60.0 + size / (1 << 20)


class LocalHost(ProcessHost):
    """This machine. Files are handled in-process unless sudo is needed to touch them."""

    def __init__(self, name: str = "localhost", sudo: bool = False) -> None:
        super().__init__(name, sudo=sudo)

    def _spawn(self, argv: Sequence[str], *, env: dict[str, str] | None,
               sudo: bool) -> tuple[list[str], dict[str, str] | None]:
        if sudo:
            return privileged_argv(argv, env=env, sudo=True), None
        env_assignments(env)  # same validation whichever way the environment travels
        # Without sudo the environment goes to the process directly: nothing in `ps`.
        return list(argv), env

    def _files_in_process(self) -> bool:
        # As root, sudo adds nothing; as another user, the file calls must go through sudo.
        return not self.sudo or os.geteuid() == 0

    def put_file(self, path: str, data: bytes, *, mode: int = 0o600,
                 owner: str | None = None, group: str | None = None) -> None:
        """Write data atomically to path with mode/owner. Raises RemoteError."""
        if not self._files_in_process():
            super().put_file(path, data, mode=mode, owner=owner, group=group)
            return
        directory, base = os.path.split(os.path.abspath(path))
        try:
            fd, temp = tempfile.mkstemp(prefix=f".{base}.sbs-", dir=directory)
        except OSError as exc:
            raise self._file_error("write", path, exc) from exc
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
                os.fchmod(handle.fileno(), mode)
                if owner or group:
                    os.fchown(handle.fileno(), _uid(owner), _gid(group))
            os.replace(temp, path)
            _fsync_directory(directory)
        except (OSError, LookupError) as exc:  # LookupError: unknown user or group name
            try:
                os.unlink(temp)
            except FileNotFoundError:
                pass
            raise self._file_error("write", path, exc) from exc

    def read_file(self, path: str) -> bytes:
        """Read a whole file. Raises RemoteError (also when it does not exist)."""
        if not self._files_in_process():
            return super().read_file(path)
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise self._file_error("read", path, exc) from exc

    def exists(self, path: str) -> bool:
        """True when path exists on the host."""
        if not self._files_in_process():
            return super().exists(path)
        return os.path.exists(path)

    def _file_error(self, action: str, path: str, exc: Exception) -> RemoteError:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return RemoteError(self.name, f"{action} {path}", f"failed: {reason}")


def _uid(owner: str | None) -> int:
    """Raises KeyError for an unknown user name."""
    if not owner:
        return -1  # leave unchanged
    return int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid


def _gid(group: str | None) -> int:
    """Raises KeyError for an unknown group name."""
    if not group:
        return -1
    return int(group) if group.isdigit() else grp.getgrnam(group).gr_gid


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable, not just the file content.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
