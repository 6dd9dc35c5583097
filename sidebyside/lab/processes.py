"""Start, find and stop the lab's processes by the PID files it records, and run its
set-up tools to their end (adapter).

Every process the lab starts leads its own session (process group = PID), so stopping
it by its recorded PID also ends the workers it forked.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from sidebyside.errors import StepFailed
from sidebyside.redact import redact
from sidebyside.remote.local import pid_alive

log = logging.getLogger(__name__)


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def write_pid(pid_file: Path, pid: int) -> None:
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = pid_file.with_suffix(".tmp")
    tmp.write_text(f"{pid}\n")
    os.replace(tmp, pid_file)


def running_pid(pid_file: Path) -> int | None:
    pid = read_pid(pid_file)
    return pid if pid_alive(pid) else None


def start_detached(argv: Sequence[str], *, pid_file: Path, log_file: Path,
                   env: dict[str, str] | None = None, cwd: Path | None = None) -> int:
    """Start argv in its own session, output appended to log_file; record its PID."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **(env or {})}
    with open(log_file, "ab") as log_handle:
        process = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=log_handle, stderr=log_handle,
            env=full_env, cwd=cwd, start_new_session=True, close_fds=True)
    write_pid(pid_file, process.pid)
    log.info("started %s (pid %d)", argv[0], process.pid)
    return process.pid


def stop_pid(pid: int, *, what: str, timeout: float = 20.0) -> None:
    """SIGTERM the process (its group when it leads one), SIGKILL after `timeout`.

    Raises StepFailed when it survives SIGKILL.
    """
    if not pid_alive(pid):
        return
    _signal(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout):
        return
    log.warning("%s (pid %d) ignored SIGTERM for %.0f s: killing it", what, pid, timeout)
    _signal(pid, signal.SIGKILL)
    if not _wait_gone(pid, 5.0):
        raise StepFailed(f"lab-stop-{what}", f"{what} (pid {pid}) survived SIGKILL")


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:  # reap it when it is our own child (lab up in the same process)
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    return not pid_alive(pid)


def run_tool(argv: Sequence[str], *, what: str, ok_codes: Sequence[int] = (0,),
             env: dict[str, str] | None = None, timeout: float = 600.0) -> int:
    """Run a tool to its end (keystone-manage, haproxy -D, ...); returns its exit code.

    Raises StepFailed naming it when it times out or exits with a code not in ok_codes.
    """
    started = time.monotonic()
    try:
        result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                                env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise StepFailed(f"lab-{what}", f"{Path(argv[0]).name} timed out after "
                         f"{timeout:.0f} s") from None
    log.info("%s: %s exited %d in %.1f s", what, Path(argv[0]).name, result.returncode,
             time.monotonic() - started)
    if result.returncode not in ok_codes:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise StepFailed(f"lab-{what}", redact(
            f"`{' '.join(Path(a).name if i == 0 else a for i, a in enumerate(argv))}` "
            f"exited {result.returncode}: {tail}"))
    return result.returncode


def family(pid: int) -> set[int]:
    """`pid` and its descendants (the workers a service forks: oslo.service's, a
    neutron-server's), read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[-1].split()[1])
    found, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found.update(children)
        frontier += children
    return found


def resident_mib(pids: set[int]) -> float:
    """The resident memory of these processes and their descendants, in MiB."""
    total_kib = 0
    for member in {m for pid in pids for m in family(pid)}:
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except OSError:
            continue
        total_kib += next((int(line.split()[1]) for line in lines
                           if line.startswith("VmRSS:")), 0)
    return round(total_kib / 1024, 1)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_status(url: str, timeout: float = 3.0) -> int | None:
    """The HTTP status of a GET, or None when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


def wait_http_ok(url: str, *, what: str, pid: int | None, log_file: Path,
                 budget: float = 90.0) -> None:
    """Wait until `url` answers 2xx/3xx, while `pid` lives.

    Raises StepFailed (with the log tail) when the process dies or the budget runs out.
    """
    def not_ready(status: int | None) -> bool:
        if pid is not None and not pid_alive(pid):
            raise StepFailed(f"lab-start-{what}",
                             f"{what} exited during start-up; {log_file}:\n{log_tail(log_file)}")
        return status is None or status >= 400

    retrying = Retrying(stop=stop_after_delay(budget), wait=wait_fixed(0.2),
                        retry=retry_if_result(not_ready), reraise=False)
    try:
        retrying(http_status, url)
    except RetryError:
        raise StepFailed(f"lab-start-{what}",
                         f"{what} did not answer {url} within {budget:.0f} s; "
                         f"{log_file}:\n{log_tail(log_file)}") from None


def log_tail(log_file: Path, lines: int = 15) -> str:
    try:
        text = log_file.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return redact("\n".join(text.strip().splitlines()[-lines:]))
