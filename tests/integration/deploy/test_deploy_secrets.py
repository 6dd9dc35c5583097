"""deploy.ansible's extra_vars through real ansible-runner: their values never reach
the artifacts, events or journal (not even when never registered before the deploy),
and a run killed mid-way leaves nothing readable behind once the next run starts."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sidebyside.deploy.ansible import REDACTED_MARK
from sidebyside.redact import forget_secrets
from tests.integration.remote.conftest import is_running

from .conftest import ansible_rig, deploy_step

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
SITE_SECRET = "Vq3-site-secret-9"   # never registered by the test: the deploy must
SHORT_SECRET = "q7z"                # shorter than four characters: masked as a token

PRINTING_PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Show the site's variables
      ansible.builtin.debug:
        msg: "token={{ site_secret }} short {{ short_secret }} end"
    - name: Show them as a structure
      ansible.builtin.debug:
        var: site_secret
"""

SLOW_PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Print the secret, then hang
      ansible.builtin.shell: "echo token={{ site_secret }}; echo $$ > {{ pid_file }}; exec sleep 60"
"""

CHILD = """
import sys
from pathlib import Path
from tests.integration.deploy.conftest import ansible_rig, deploy_step
directory, playbook, pid_file, secret = sys.argv[1:5]
rig = ansible_rig(Path(directory), playbook=Path(playbook),
                  extra_vars={"site_secret": secret, "pid_file": pid_file})
step = deploy_step()
rig.action().run(step, rig.context(step))
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def private_files(state_dir: Path) -> list[Path]:
    return [p for p in (state_dir / "deploy").rglob("*") if p.is_file()]


@pytest.fixture(autouse=True)
def _clean() -> None:
    forget_secrets()
    yield
    forget_secrets()


def test_extra_var_values_never_reach_artifacts_events_or_journal(tmp_path: Path) -> None:
    playbook = tmp_path / "print.yml"
    playbook.write_text(PRINTING_PLAYBOOK)
    rig = ansible_rig(tmp_path / "site", playbook=playbook,
                      extra_vars={"site_secret": SITE_SECRET, "short_secret": SHORT_SECRET})
    step = deploy_step()
    rig.action().run(step, rig.context(step))
    state = rig.state_dir
    assert mode(state / "deploy") == 0o700 and mode(state / "deploy" / "ansible") == 0o700
    files = private_files(state)
    events = [p for p in files if p.parent.name == "job_events"]
    assert events, "ansible-runner wrote no job events"
    stdout = next(p for p in files if p.name == "stdout").read_text()
    assert "token=*** short *** end" in stdout  # the task ran and printed, masked
    for path in [*files, rig.journal.path]:
        data = path.read_bytes()
        assert SITE_SECRET.encode() not in data, path
        assert b" " + SHORT_SECRET.encode() + b" " not in data, path
    assert SITE_SECRET not in "\n".join(rig.lines)
    assert all((run / REDACTED_MARK).exists() for run in rig.artifacts())


def test_a_run_killed_mid_way_is_cleaned_at_the_next_start(tmp_path: Path) -> None:
    slow = tmp_path / "slow.yml"
    slow.write_text(SLOW_PLAYBOOK)
    pid_file = tmp_path / "sleep.pid"
    directory = tmp_path / "site"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(directory), str(slow),
                              str(pid_file), SITE_SECRET], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.is_file() and pid_file.read_text().strip()):
            assert time.monotonic() < deadline, "the playbook's task never started"
            assert child.poll() is None, "the deploy ended before its task ran"
            time.sleep(0.05)
        private = directory / "state" / "deploy" / "ansible"
        extravars = private / "env" / "extravars"
        # while it runs: the extra vars in a 0600 file inside 0700 directories
        assert mode(extravars) == 0o600 and mode(private / "env") == 0o700
        assert mode(private) == 0o700 and mode(private.parent) == 0o700
        child.send_signal(signal.SIGKILL)  # sbs killed: no finally runs
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
        if pid_file.is_file() and pid_file.read_text().strip():
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass
    sleeper = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while is_running(sleeper) and time.monotonic() < deadline:
        time.sleep(0.1)
    artifacts = private / "artifacts"
    interrupted = [run for run in artifacts.iterdir() if not (run / REDACTED_MARK).exists()]
    assert interrupted and extravars.exists()  # what the kill left behind

    playbook = tmp_path / "print.yml"
    playbook.write_text(PRINTING_PLAYBOOK)
    rig = ansible_rig(directory, playbook=playbook,
                      extra_vars={"site_secret": "other-value-1", "short_secret": "x"})
    step = deploy_step()
    rig.action().run(step, rig.context(step))
    assert not any(run.exists() for run in interrupted)
    assert any("removed the artifacts of interrupted ansible run" in line for line in rig.lines)
    for path in private_files(directory / "state"):
        assert SITE_SECRET.encode() not in path.read_bytes(), path
