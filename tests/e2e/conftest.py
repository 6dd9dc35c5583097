"""The e2e tier: one real lab, brought up once per session with the real CLI.

The lab listens on fixed addresses (127.0.0.10-12), so a lab already running on this
machine (a developer's `.lab`) makes the session fail fast instead of colliding.
test_ha3.py brings up its own lab of another topology on 127.0.2.10-17 (module scope,
before this one is first used) with its own guard: neither trips the other's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sidebyside.lab import processes
from sidebyside.lab.layout import DB_PORT, SERVICE_PORT, SIDE_ADDRESS, VIP
from sidebyside.remote.local import LocalHost
from sidebyside.traffic.haproxy import HaproxyNode

LAB_PORTS = [(VIP, SERVICE_PORT["keystone"]), (VIP, SERVICE_PORT["glance"]),
             *[(SIDE_ADDRESS[side], port) for side in ("old", "new")
               for port in (DB_PORT, SERVICE_PORT["keystone"], SERVICE_PORT["glance"])]]
UP_TIMEOUT = 900
# The old side's release; 2024.1 (-> 2026.1 via 2025.1) unless CI asks for another path,
# e.g. SBS_E2E_FROM_RELEASE=2025.1 for the one-SLURP-release upgrade.
FROM_RELEASE = os.environ.get("SBS_E2E_FROM_RELEASE", "2024.1")
TO_RELEASE = "2026.1"


@dataclass
class RunningLab:
    state_dir: Path
    up_report: dict[str, Any]

    def cli(self, *args: str, check: bool = True,
            timeout: float = UP_TIMEOUT) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "sidebyside.cli.lab", *args],
            capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "SBS_LAB_DIR": str(self.state_dir)}, stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise AssertionError(f"sbs lab {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def up(self) -> dict[str, Any]:
        result = self.cli("up", "--json", "--from-release", FROM_RELEASE,
                          "--to-release", TO_RELEASE)
        return json.loads(result.stdout)  # type: ignore[no-any-return]


def processes_under(state_dir: Path) -> list[str]:
    """Processes whose command line names the lab's state dir (every lab process does:
    its config, datadir or PID file lives there)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if str(state_dir) in cmdline and state != "Z":
            found.append(f"{proc.name}: {cmdline.strip()}")
    return found


def haproxy_command(admin_socket: Path, command: str) -> str:
    """One runtime API command to a lab HAProxy node, through sbs's own client; the
    answer as HAProxy wrote it."""
    return HaproxyNode.on_host(LocalHost("lab-haproxy"), str(admin_socket),
                               timeout=5).command(command)


def listening(ports: list[tuple[str, int]]) -> list[str]:
    return [f"{host}:{port}" for host, port in ports if processes.port_open(host, port)]


def topology_lab(tmp_path_factory: pytest.TempPathFactory, topology: str,
                 ports: list[tuple[str, int]], *, services: str,
                 from_release: str) -> Iterator[RunningLab]:
    """A lab of a named topology (`sbs lab up --topology`), up for a module's tests and
    purged after them; fails fast when another lab holds its addresses."""
    busy = listening(ports)
    if busy:
        pytest.fail(f"the {topology} lab's addresses are in use ({', '.join(busy)}): "
                    f"another {topology} lab runs on this machine; stop it with "
                    "`sbs lab down`")
    running = RunningLab(tmp_path_factory.mktemp(f"{topology}lab"), {})
    try:
        started = time.monotonic()
        result = running.cli("up", "--json", "--topology", topology, "--services", services,
                             "--from-release", from_release, "--to-release", TO_RELEASE)
        running.up_report = json.loads(result.stdout)
        print(f"{topology} lab up in {time.monotonic() - started:.1f} s")
        yield running
    finally:
        running.cli("down", "--purge", check=False, timeout=300)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    busy = listening(LAB_PORTS)
    if busy:
        pytest.fail(f"lab addresses already in use ({', '.join(busy)}): another lab runs "
                    f"on this machine; stop it with `sbs lab down`")
    running = RunningLab(tmp_path_factory.mktemp("lab"), {})
    try:
        running.up_report = running.up()
        yield running
    finally:
        running.cli("down", "--purge", check=False, timeout=300)
