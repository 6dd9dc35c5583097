"""The lab's real playbook through ansible-runner: local connection, failure, idempotency."""

from __future__ import annotations

import _thread
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from sidebyside.actions.deploy import deploy_fact_key
from sidebyside.engine.journal import StepStatus
from sidebyside.errors import StepFailed
from sidebyside.lab.deploy_adapter import LabAnsibleHost
from sidebyside.redact import forget_secrets, register_secret
from tests.integration.remote.conftest import is_running

from .conftest import NEW, TARGET_RELEASE, DeployRig, ansible_rig, deploy_step

pytestmark = pytest.mark.integration

SITE_TOKEN = "site-T0ken-4-deploy"  # a secret among the operator's extra vars


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> DeployRig:
    """One real deploy of the lab playbook (keystone of the target release), through the
    executor as `sbs prepare` runs it."""
    register_secret(SITE_TOKEN)
    rig = ansible_rig(tmp_path_factory.mktemp("deploy") / "site",
                      extra_vars={"site_token": SITE_TOKEN})
    outcome = rig.execute(deploy_step())
    rig.run_id = outcome.run_id  # type: ignore[attr-defined]
    yield rig
    forget_secrets()


def test_playbook_lays_out_the_packaged_config_tree(deployed: DeployRig) -> None:
    root = deployed.root
    assert mode(root / "etc" / "keystone") == 0o750
    assert mode(root / "etc" / "keystone" / "fernet-keys") == 0o700
    assert mode(root / "etc" / "keystone" / "credential-keys") == 0o700
    assert mode(root / "var" / "lib" / "keystone") == 0o750
    assert mode(root / "var" / "log" / "keystone") == 0o750
    assert (root / "etc" / "sbs-deployed-release").read_text() == f"{TARGET_RELEASE}\n"


def test_playbook_installs_the_target_release(deployed: DeployRig) -> None:
    venv = deployed.root / "opt" / "openstack" / f"keystone-{TARGET_RELEASE}"
    assert venv.is_symlink() and (venv / "bin" / "python").exists()
    manage = deployed.root / "usr" / "bin" / "keystone-manage"
    assert manage.is_symlink() and os.access(manage, os.X_OK)
    assert Path(os.path.realpath(manage)).parent == Path(os.path.realpath(venv)) / "bin"


def test_events_stream_into_the_journal(deployed: DeployRig) -> None:
    record = deployed.journal.step(deployed.run_id, "prepare.deploy")  # type: ignore[attr-defined]
    assert record.status == StepStatus.DONE
    assert "TASK [Install the release venvs]" in record.output_tail
    assert f"RECAP {NEW}: ok=" in record.output_tail
    assert record.result is not None and record.result["kind"] == "ansible"
    hosts = record.result["hosts"]
    assert list(hosts) == [NEW] and hosts[NEW]["failed"] == 0 and hosts[NEW]["changed"] > 0
    fact = deployed.journal.fact(deploy_fact_key("prepare.deploy"))
    assert fact["fingerprint"] == record.result["fingerprint"]


def test_no_secret_is_left_in_artifacts_or_journal(deployed: DeployRig) -> None:
    private = deployed.state_dir / "deploy" / "ansible"
    assert not (private / "env" / "extravars").exists()
    assert mode(private) == 0o700
    for path in [*private.rglob("*"), deployed.journal.path]:
        if path.is_file():
            assert SITE_TOKEN.encode() not in path.read_bytes(), path
    command = (deployed.artifacts()[0] / "command").read_text()
    assert "ansible-playbook" in command and '"env"' not in command
    assert (deployed.artifacts()[0] / "stdout").read_text().count("TASK [") >= 5


def test_rerun_is_skipped_and_redeploy_runs_again(deployed: DeployRig) -> None:
    step = deploy_step()
    before = deployed.artifacts()
    again = deployed.execute(step)  # a new `sbs prepare`: the deploy step is skipped
    record = deployed.journal.step(again.run_id, step.id)
    assert record.result is not None and record.result["skipped"] is True
    assert "already deployed with the same playbook" in record.output_tail
    assert deployed.artifacts() == before
    assert deployed.action().verify(step, deployed.context(step))

    (deployed.root / "etc" / "sbs-deployed-release").unlink()
    redeploy = deployed.execute(step, redeploy=True)
    record = deployed.journal.step(redeploy.run_id, step.id)
    assert record.result is not None and record.result.get("skipped") is None
    assert record.result["status"] == "successful"
    assert (deployed.root / "etc" / "sbs-deployed-release").read_text() == f"{TARGET_RELEASE}\n"
    assert len(deployed.artifacts()) == len(before) + 1


def test_a_changed_playbook_input_deploys_again(deployed: DeployRig, tmp_path: Path) -> None:
    step = deploy_step()
    action = deployed.action()
    assert action.verify(step, deployed.context(step))
    inventory_file = deployed.directory / "ansible-inventory.yml"
    original = inventory_file.read_text()
    try:
        inventory_file.write_text(original + "# edited\n")
        assert not action.verify(step, deployed.context(step))
    finally:
        inventory_file.write_text(original)
    assert action.verify(step, deployed.context(step))


def test_failing_task_is_named_with_host_and_message(tmp_path: Path) -> None:
    # A release the lab has no lock for: the install task of the real playbook fails.
    rig = ansible_rig(tmp_path / "site", extra_vars={"sbs_release_to": "2099.1",
                                                       "sbs_releases": ["2099.1"]})
    step = deploy_step()
    with pytest.raises(StepFailed) as caught:
        rig.action().run(step, rig.context(step))
    message = caught.value.message
    assert f"task 'Install the release venvs' failed on host {NEW}" in message
    assert "2099.1" in message
    assert "note: deploy.ansible.extra_vars overrides sbs's sbs_release_to" in rig.lines
    assert f"  {NEW}: FAILED: " in "\n".join(rig.lines)
    assert rig.journal.fact(deploy_fact_key(step.id))["fingerprint"] is None
    # The tree before the failing task is in place; the record of success is not.
    assert (rig.root / "etc" / "keystone" / "fernet-keys").is_dir()
    assert not (rig.root / "etc" / "sbs-deployed-release").exists()


def test_missing_playbook_is_an_input_error(tmp_path: Path) -> None:
    from sidebyside.errors import InputError
    from sidebyside.inventory import parse_inventory

    rig = ansible_rig(tmp_path / "site")
    data = rig.inventory.model_dump(by_alias=True)
    data["deploy"]["ansible"]["playbook"] = "missing.yml"
    rig.inventory = parse_inventory(data, rig.inventory.source)
    step = deploy_step()
    with pytest.raises(InputError, match="deploy.ansible.playbook: .*missing.yml is not a file"):
        rig.action().run(step, rig.context(step))


SLOW_PLAYBOOK = """
- hosts: all
  gather_facts: false
  tasks:
    - name: Converge slowly
      ansible.builtin.shell: "echo $$ > {{ pid_file }}; exec sleep 120"
"""


def slow_rig(tmp_path: Path) -> tuple[DeployRig, Path]:
    playbook = tmp_path / "slow.yml"
    playbook.write_text(SLOW_PLAYBOOK)
    pid_file = tmp_path / "sleep.pid"
    return ansible_rig(tmp_path / "site", playbook=playbook,
                       extra_vars={"pid_file": str(pid_file)}), pid_file


def wait_for_pid(pid_file: Path, seconds: float = 30) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pid_file.is_file() and pid_file.read_text().strip():
            return int(pid_file.read_text())
        time.sleep(0.05)
    raise AssertionError("the playbook's task never started")


def test_timeout_stops_ansible_and_fails_the_step(tmp_path: Path) -> None:
    rig, pid_file = slow_rig(tmp_path)
    step = deploy_step(timeout=4)
    started = time.monotonic()
    with pytest.raises(StepFailed, match="ansible-playbook timed out"):
        rig.action().run(step, rig.context(step))
    assert time.monotonic() - started < 20
    assert not is_running(int(pid_file.read_text()))


def test_ctrl_c_stops_ansible_before_returning(tmp_path: Path) -> None:
    rig, pid_file = slow_rig(tmp_path)
    step = deploy_step()

    interrupted: list[float] = []

    def interrupt_once_the_task_runs() -> None:
        # a loaded machine may take long to start ansible: wait for the task itself
        # (it sleeps 120 s), then interrupt while it runs
        wait_for_pid(pid_file, seconds=90)
        interrupted.append(time.monotonic())
        _thread.interrupt_main()  # what a second Ctrl-C does to the executor

    watcher = threading.Thread(target=interrupt_once_the_task_runs, daemon=True)
    watcher.start()
    with pytest.raises(KeyboardInterrupt):
        rig.action().run(step, rig.context(step))
    watcher.join(5)
    assert interrupted, "the playbook's task never started"
    assert time.monotonic() - interrupted[0] < 30  # the interrupt ended it, not the sleep
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5  # SIGKILL is sent; a loaded machine may lag a moment
    while is_running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not is_running(pid)
    assert not (rig.state_dir / "deploy" / "ansible" / "env" / "extravars").exists()
    assert rig.journal.fact(deploy_fact_key(step.id))["fingerprint"] is None


def test_a_limit_matching_no_host_fails_with_ansibles_reason(tmp_path: Path) -> None:
    from sidebyside.inventory import parse_inventory

    rig = ansible_rig(tmp_path / "site")
    data = rig.inventory.model_dump(by_alias=True)
    data["deploy"]["ansible"]["limit"] = "nosuchgroup"
    rig.inventory = parse_inventory(data, rig.inventory.source)
    step = deploy_step()
    with pytest.raises(StepFailed, match="no hosts to target"):
        rig.action().run(step, rig.context(step))
    assert not rig.root.exists()


def test_a_broken_playbook_fails_with_where_it_is_broken(tmp_path: Path) -> None:
    playbook = tmp_path / "broken.yml"
    playbook.write_text("- hosts: all\n  tasks:\n    - name: x\n      no.such.module: {}\n")
    rig = ansible_rig(tmp_path / "site", playbook=playbook)
    step = deploy_step()
    with pytest.raises(StepFailed) as caught:
        rig.action().run(step, rig.context(step))
    assert "no.such.module" in caught.value.message
    assert f"{playbook}:3" in caught.value.message


def test_three_controllers_deploy_in_parallel_and_a_broken_one_is_named(
        tmp_path: Path) -> None:
    site = tmp_path / "site"
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where new-ctl2's root should be\n")
    hosts = [LabAnsibleHost("new-ctl1", "127.0.0.12", str(site / "new1")),
             LabAnsibleHost("new-ctl2", "127.0.0.13", str(blocker / "new2")),
             LabAnsibleHost("new-ctl3", "127.0.0.14", str(site / "new3"))]
    rig = ansible_rig(site, hosts=hosts, extra_vars={"sbs_lab_install_venvs": False})
    step = deploy_step()
    with pytest.raises(StepFailed) as caught:
        rig.action().run(step, rig.context(step))
    message = caught.value.message
    assert "task 'Base directories' failed on host new-ctl2" in message
    assert "new-ctl1" not in message and "new-ctl3" not in message
    for root in (site / "new1", site / "new3"):
        assert (root / "etc" / "sbs-deployed-release").read_text() == f"{TARGET_RELEASE}\n"
    recap = [line for line in rig.lines if line.startswith("RECAP ")]
    assert len(recap) == 3 and any("new-ctl2: ok=" in line and "failed=1" in line
                                   for line in recap)
