"""Real services for the transport tests: an sshd on a free loopback port, a network namespace.

Everything started here is stopped by PID at teardown.
"""

from __future__ import annotations

import getpass
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port

SSHD = "/usr/sbin/sshd"
SSHD_START_SECONDS = 10.0


def generate_key(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sbs-test",
                    "-f", str(path)], check=True)


def wait_for_port(address: str, port: int, process: subprocess.Popen[bytes],
                  log_path: Path) -> None:
    deadline = time.monotonic() + SSHD_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}: {log_path.read_text()}")
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on {address}:{port}: {log_path.read_text()}")


def is_running(pid: int) -> bool:
    """True for a live process; a zombie counts as gone (this machine's init may not reap)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


@dataclass(frozen=True)
class Sshd:
    address: str
    second_address: str  # the same sshd, to serve as a jump host (ssh refuses a jump loop)
    port: int
    user: str
    client_key: Path
    known_hosts: Path
    wrong_known_hosts: Path  # the same address with another host's key
    pid: int


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if not os.path.exists(SSHD) or shutil.which("ssh") is None:
        pytest.fail("openssh-server and openssh-client are required (apt-get install "
                    "openssh-server openssh-client)")
    work = tmp_path_factory.mktemp("sshd")
    host_key, other_host_key, client_key = work / "host_key", work / "other_host_key", work / "id"
    for key in (host_key, other_host_key, client_key):
        generate_key(key)
    (work / "authorized_keys").write_text((work / "id.pub").read_text())
    address, second_address, port = "127.0.0.1", "127.0.0.2", free_port()
    known_hosts, wrong_known_hosts = work / "known_hosts", work / "wrong_known_hosts"
    host_public_key = (work / "host_key.pub").read_text()
    known_hosts.write_text(f"[{address}]:{port} {host_public_key}"
                           f"[{second_address}]:{port} {host_public_key}")
    wrong_known_hosts.write_text(
        f"[{address}]:{port} {(work / 'other_host_key.pub').read_text()}")
    config = work / "sshd_config"
    config.write_text("\n".join([
        f"ListenAddress {address}:{port}",
        f"ListenAddress {second_address}:{port}",
        f"HostKey {host_key}",
        f"PidFile {work / 'sshd.pid'}",
        f"AuthorizedKeysFile {work / 'authorized_keys'}",
        "UsePAM no",
        "StrictModes no",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "MaxStartups 50",
        "MaxSessions 50",
        "LogLevel ERROR",
        "",
    ]))
    # sshd's privilege separation directory; Debian creates it only when the service starts.
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    log_path = work / "sshd.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)],
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(address, port, process, log_path)
        yield Sshd(address=address, second_address=second_address, port=port,
                   user=getpass.getuser(), client_key=client_key, known_hosts=known_hosts,
                   wrong_known_hosts=wrong_known_hosts, pid=process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"sbs-test-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True)
