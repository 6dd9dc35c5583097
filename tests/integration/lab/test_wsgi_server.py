"""The lab's WSGI server with several worker processes: real processes, real sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sidebyside.lab import processes
from sidebyside.lab.services import WSGI_SERVER

APP = '''
import os, time

def application(environ, start_response):
    time.sleep(0.2)  # a request in progress while others arrive
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
'''


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path):
    (tmp_path / "pidapp.py").write_text(APP)
    port = free_port()
    pid_file = tmp_path / "server.pid"
    server = subprocess.Popen(
        [sys.executable, str(WSGI_SERVER), "--host", "127.0.0.1", "--port", str(port),
         "--app", "pidapp:application", "--workers", "3", "--pid-file", str(pid_file)],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)},
        stderr=subprocess.PIPE, start_new_session=True)
    try:
        processes.wait_http_ok(f"http://127.0.0.1:{port}/", what="pidapp", pid=server.pid,
                               log_file=tmp_path / "none.log", budget=30)
        yield server, port, pid_file
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def test_several_workers_share_the_address_and_stop_with_the_first(served) -> None:
    server, port, pid_file = served
    assert int(pid_file.read_text()) == server.pid
    workers = children_of(server.pid)
    assert len(workers) == 2
    answered: set[int] = set()
    deadline = time.monotonic() + 30
    while answered != workers | {server.pid} and time.monotonic() < deadline:
        # new connections each time: the kernel spreads them over the listeners
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as reply:
            answered.add(int(reply.read()))
    assert answered == workers | {server.pid}

    server.send_signal(signal.SIGTERM)  # the first process alone, as `kill PID` would
    server.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(processes.pid_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(processes.pid_alive(p) for p in workers)
    assert not processes.port_open("127.0.0.1", port)
