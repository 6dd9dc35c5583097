"""PID-file process control of the lab, on throwaway `python -c` processes (< 2 s)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from sidebyside.errors import StepFailed
from sidebyside.lab import processes

# A parent that forks a child sharing its session, then both sleep: stopping the parent
# by its PID must end the child too.
FAMILY = ("import os, sys, time\n"
          "child = os.fork()\n"
          "if child == 0:\n"
          "    time.sleep(60)\n"
          "    sys.exit(0)\n"
          "print(child, flush=True)\n"
          "time.sleep(60)\n")


def test_stop_by_pid_ends_the_whole_process_group(tmp_path: Path) -> None:
    pid_file, log_file = tmp_path / "run" / "family.pid", tmp_path / "family.log"
    pid = processes.start_detached([sys.executable, "-c", FAMILY], pid_file=pid_file,
                                   log_file=log_file)
    assert processes.read_pid(pid_file) == pid
    deadline = time.monotonic() + 5
    while not log_file.read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(log_file.read_text().split()[0])
    assert processes.pid_alive(pid) and processes.pid_alive(child)
    processes.stop_pid(pid, what="family", timeout=5)
    assert not processes.pid_alive(pid)
    deadline = time.monotonic() + 5
    while processes.pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not processes.pid_alive(child)
    assert processes.running_pid(pid_file) is None


def test_wait_http_ok_reports_a_process_that_died(tmp_path: Path) -> None:
    log_file = tmp_path / "dies.log"
    pid = processes.start_detached(
        [sys.executable, "-c", "import sys; print('no config here', file=sys.stderr)"],
        pid_file=tmp_path / "dies.pid", log_file=log_file)
    with pytest.raises(StepFailed, match="(?s)exited during start-up.*no config here"):
        processes.wait_http_ok("http://127.0.0.1:9/", what="dies", pid=pid,
                               log_file=log_file, budget=10)


def test_dead_or_missing_pids_are_not_running(tmp_path: Path) -> None:
    assert processes.read_pid(tmp_path / "missing.pid") is None
    (tmp_path / "junk.pid").write_text("not a pid\n")
    assert processes.running_pid(tmp_path / "junk.pid") is None
    assert not processes.pid_alive(None) and not processes.pid_alive(0)
