"""`deploy.command`: a real `sh -c` with streamed output, exit status, timeout, skip."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from sidebyside.actions.deploy import deploy_fact_key
from sidebyside.errors import StepFailed

from .conftest import TARGET_RELEASE, command_rig, deploy_step

pytestmark = pytest.mark.integration


def test_output_streams_as_it_arrives_with_sbs_variables(tmp_path: Path) -> None:
    rig = command_rig(tmp_path / "site", 'echo "deploying $SBS_RELEASE_TO to '
                      '$SBS_NEW_CONTROLLERS on db $SBS_NEW_DB_HOST:$SBS_NEW_DB_PORT"; '
                      'echo "warning on stderr" >&2; sleep 1; pwd; echo done')
    arrivals: list[tuple[float, str]] = []
    step = deploy_step()
    ctx = rig.context(step, on_log=lambda line: arrivals.append((time.monotonic(), line)))
    result = rig.action().run(step, ctx)
    lines = [line for _, line in arrivals]
    first = lines.index(f"deploying {TARGET_RELEASE} to new-ctl1 on db 10.0.0.12:3306")
    assert "warning on stderr" in lines
    assert lines.index(str(rig.directory)) > first  # runs beside the inventory file
    assert lines.index("done") > first
    # Streamed: the first line was logged a second before the last one, not all at the end.
    times = dict((line, at) for at, line in arrivals)
    assert times["done"] - times[lines[first]] >= 0.8
    assert result is not None and result["kind"] == "command" and result["rc"] == 0


def test_non_zero_exit_fails_the_step_with_status_and_output(tmp_path: Path) -> None:
    rig = command_rig(tmp_path / "site", "echo converging; echo 'chef: resource failed' >&2; "
                                         "exit 3")
    step = deploy_step()
    with pytest.raises(StepFailed) as caught:
        rig.action().run(step, rig.context(step))
    assert "deploy command exited with status 3" in caught.value.message
    assert "chef: resource failed" in caught.value.message
    assert rig.journal.fact(deploy_fact_key(step.id))["fingerprint"] is None


def test_timeout_kills_the_command(tmp_path: Path) -> None:
    rig = command_rig(tmp_path / "site", "echo pid $$; exec sleep 30")
    step = deploy_step(timeout=1)
    started = time.monotonic()
    with pytest.raises(StepFailed, match="deploy command timed out after 1 s"):
        rig.action().run(step, rig.context(step))
    assert time.monotonic() - started < 10
    pid = int(next(line for line in rig.lines if line.startswith("pid ")).split()[1])
    assert not _running(pid)


def test_success_is_recorded_and_a_rerun_skipped_unless_redeploy(tmp_path: Path) -> None:
    marker = tmp_path / "runs"
    rig = command_rig(tmp_path / "site", f"echo run >> {marker}")
    step = deploy_step()
    action = rig.action()
    assert not action.verify(step, rig.context(step))
    action.run(step, rig.context(step))
    assert action.verify(step, rig.context(step))
    skipped = action.run(step, rig.context(step))
    assert skipped == {"skipped": True, "reason": "already deployed",
                       "fingerprint": rig.journal.fact(deploy_fact_key(step.id))["fingerprint"]}
    assert marker.read_text() == "run\n"
    action.run(step, rig.context(step, redeploy=True))
    assert marker.read_text() == "run\nrun\n"


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z" and os.path.exists(f"/proc/{pid}")


def test_a_failed_deploy_forgets_the_earlier_success(tmp_path: Path) -> None:
    marker = tmp_path / "runs"
    good = f"echo run >> {marker}"
    step = deploy_step()
    first = command_rig(tmp_path / "site", good)
    first.action().run(step, first.context(step))
    broken = command_rig(tmp_path / "site", "echo half-done; exit 1")  # same state dir
    with pytest.raises(StepFailed):
        broken.action().run(step, broken.context(step))
    # Back to the command that once succeeded: the hosts may be half-changed, so it runs.
    again = command_rig(tmp_path / "site", good)
    result = again.action().run(step, again.context(step))
    assert result is not None and not result.get("skipped")
    assert marker.read_text() == "run\nrun\n"
