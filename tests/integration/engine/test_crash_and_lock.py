"""Real processes: SIGKILL in the middle of a step, resume; the lock refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sidebyside.engine.journal import Journal, RunStatus, StepStatus
from sidebyside.engine.lock import RunLock
from sidebyside.errors import LockedError

pytestmark = pytest.mark.integration
SCRIPT = Path(__file__).with_name("crashy_run.py")


def start(state: Path, work: Path, slow: float) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(SCRIPT), str(state), str(work), str(slow)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, content: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text() == content:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never said {content!r}")


def test_sigkill_mid_step_then_resume_completes(tmp_path: Path) -> None:
    state, work = tmp_path / "state", tmp_path / "work"
    work.mkdir()
    proc = start(state, work, slow=60)
    try:
        wait_for(work / "ready", "prepare.slow")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    journal = Journal(state)
    run = journal.latest_run("prepare")
    assert run is not None and run.status == RunStatus.RUNNING  # died without a word
    assert journal.step(run.id, "prepare.one").status == StepStatus.DONE
    assert journal.step(run.id, "prepare.slow").status == StepStatus.RUNNING
    journal.close()

    resumed = start(state, work, slow=0)
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    assert "finished" in out
    journal = Journal(state)
    assert journal.latest_run("prepare").id == run.id  # the same run, resumed
    assert [s.status for s in journal.steps(run.id)] == [StepStatus.DONE] * 3
    # `one` was not re-run; `slow` was not verified complete, so it ran again
    assert (work / "prepare.one").read_text() == "1"
    assert (work / "prepare.slow").read_text() == "2"
    assert (work / "prepare.three").read_text() == "1"
    assert journal.step(run.id, "prepare.slow").attempts == 2


def test_lock_refused_to_second_process_naming_the_holder(tmp_path: Path) -> None:
    state, work = tmp_path / "state", tmp_path / "work"
    work.mkdir()
    holder = start(state, work, slow=60)
    try:
        wait_for(work / "ready", "prepare.slow")
        with pytest.raises(LockedError) as info:
            RunLock(state, "cutover").acquire()
        assert info.value.exit_code == 7
        assert f"pid {holder.pid}" in info.value.message
        assert "`sbs prepare`" in info.value.message
        second = start(state, work, slow=0)
        _, err = second.communicate(timeout=30)
        assert second.returncode != 0 and "LockedError" in err
    finally:
        holder.kill()
        holder.wait(timeout=10)
    # the kernel released the dead holder's flock: the lock is free again
    lock = RunLock(state, "cutover")
    lock.acquire()
    lock.release()
