"""The lab playbook over ssh (ansible_connection=ssh) to a real sshd on loopback."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sidebyside.errors import StepFailed
from sidebyside.lab.deploy_adapter import LabAnsibleHost
from tests.integration.remote.conftest import Sshd, free_port, is_running

from .conftest import NEW, TARGET_RELEASE, ansible_rig, deploy_step

pytestmark = pytest.mark.integration



@dataclass(frozen=True)
class ControlMaster:
    """Where ansible's ssh control master listens (a short path: sockets are limited to
    108 bytes), so that the test can stop the master it caused."""

    directory: Path

    @property
    def ssh_args(self) -> str:
        return (f"-o ControlMaster=auto -o ControlPersist=30s "
                f"-o ControlPath={self.directory}/%C")

    def stop(self, sshd: Sshd) -> list[int]:
        """Ask each master to exit (`ssh -O exit`) and wait for its PID to go."""
        pids = []
        for socket_path in self.directory.iterdir():
            check = subprocess.run(
                ["ssh", "-o", f"ControlPath={socket_path}", "-O", "check", "-p",
                 str(sshd.port), f"{sshd.user}@{sshd.address}"],
                capture_output=True, text=True, timeout=10)
            match = re.search(r"pid=(\d+)", check.stderr + check.stdout)
            subprocess.run(["ssh", "-o", f"ControlPath={socket_path}", "-O", "exit", "-p",
                            str(sshd.port), f"{sshd.user}@{sshd.address}"],
                           capture_output=True, timeout=10)
            if match:
                pids.append(int(match.group(1)))
        deadline = time.monotonic() + 10
        while any(is_running(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        return pids


@pytest.fixture
def control_master(sshd: Sshd) -> Iterator[ControlMaster]:
    master = ControlMaster(Path(tempfile.mkdtemp(prefix="sbs-cm-", dir="/tmp")))
    try:
        yield master
    finally:
        pids = master.stop(sshd)
        shutil.rmtree(master.directory, ignore_errors=True)
        assert not [pid for pid in pids if is_running(pid)], "ssh control master left"


def ssh_host(sshd: Sshd, root: Path, *, port: int | None = None,
             ssh_args: str = "-o ControlMaster=no") -> LabAnsibleHost:
    return LabAnsibleHost(NEW, sshd.address, str(root), connection="ssh",
                          port=port or sshd.port, user=sshd.user,
                          identity=str(sshd.client_key), known_hosts=str(sshd.known_hosts),
                          ssh_args=ssh_args)


def test_playbook_over_ssh_deploys_the_new_controller(sshd: Sshd, tmp_path: Path,
                                                      control_master: ControlMaster) -> None:
    site = tmp_path / "site"
    rig = ansible_rig(site, hosts=[ssh_host(sshd, site / "new",
                                            ssh_args=control_master.ssh_args)])
    step = deploy_step()
    result = rig.action().run(step, rig.context(step))
    assert result is not None and result["hosts"][NEW]["failed"] == 0
    fernet = rig.root / "etc" / "keystone" / "fernet-keys"
    assert stat.S_IMODE(fernet.stat().st_mode) == 0o700
    assert (rig.root / "usr" / "bin" / "keystone-manage").exists()
    assert (rig.root / "etc" / "sbs-deployed-release").read_text() == f"{TARGET_RELEASE}\n"
    # ansible really went through the sshd: its control master is connected to it.
    assert list(control_master.directory.iterdir()), "no ssh connection was made"
    assert f"RECAP {NEW}: ok=" in "\n".join(rig.lines)
    masters = control_master.stop(sshd)
    assert masters and not any(is_running(pid) for pid in masters)


def test_unreachable_host_is_named(sshd: Sshd, tmp_path: Path) -> None:
    site = tmp_path / "site"
    closed_port = free_port(sshd.address)  # nothing listens there
    rig = ansible_rig(site, hosts=[ssh_host(sshd, site / "new", port=closed_port)])
    step = deploy_step()
    with pytest.raises(StepFailed) as caught:
        rig.action().run(step, rig.context(step))
    message = caught.value.message
    assert f"unreachable on host {NEW}" in message
    assert str(closed_port) in message or "refused" in message.lower()
    assert not rig.root.exists()
