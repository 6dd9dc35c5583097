"""prepare / cutover / rollback close what they opened: after the command, however it
ends, no ssh control master runs and no /tmp/sbs-ssh-* directory is left (issue 15, 4).

Real sshd (the session fixture), the real `sbs` entry point and the real ActionSet
and Hosts; only the engine's run is replaced by one that uses the actions' hosts over
ssh (a whole prepare needs the whole lab), so what is checked is the command's own
closing. The inventory's `known_hosts` is honoured on the way: the fixture's key is
only in that file, and the wrong file is refused. A cutover that falls back to the
rollback runs the real guarded run with every action replaced by one that uses the
hosts: the rollback uses the cutover's Hosts, and no second one is opened.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import sidebyside.actions as actions_module
from sidebyside.cli import main as cli_main
from sidebyside.cli import phases
from sidebyside.engine.executor import RunOutcome
from sidebyside.engine.journal import RunStatus
from sidebyside.errors import StepFailed
from sidebyside.remote.inventory_hosts import Hosts
from sidebyside.remote.ssh import SshHost
from tests.conftest import example_inventory
from tests.integration.remote.conftest import Sshd, is_running

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
PASSWORD_ENV = "SBS_CLOSE_TEST_PASSWORD"


def ssh_inventory(tmp: Path, sshd: Sshd, known_hosts: Path) -> Path:
    data = example_inventory("minimal.yaml")
    password = tmp / "old.password"
    password.write_text("Close-test-secret-1\n")
    data["old"]["database"]["password_file"] = str(password)
    data["new"]["database"]["password_env"] = PASSWORD_ENV
    for name, address in (("old-ctl1", sshd.address), ("new-ctl1", sshd.second_address)):
        data["hosts"][name] = {"address": address, "ssh": {
            "port": sshd.port, "user": sshd.user, "identity": str(sshd.client_key),
            "known_hosts": str(known_hosts)}}
    data["window"]["ssh_connect_timeout"] = 5
    file = tmp / "sbs.yaml"
    file.write_text(yaml.safe_dump(data))
    return file


def master_pids(control_dir: str) -> list[int]:
    """ssh processes whose arguments name this control directory."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        # a master renames itself "ssh: <control path> [mux]"
        if args and args[0].split(b":")[0].endswith(b"ssh") and any(
                control_dir.encode() in a for a in args):
            found.append(int(entry.name))
    return [pid for pid in found if is_running(pid)]


class UsesHostsThenEnds:
    """Stands in for engine.guarded_run.run_command: builds the real actions, runs a command
    on both controllers over ssh, notes the control directories, then ends as told."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.control_dirs: list[str] = []
        self.masters: list[int] = []

    def __call__(self, env: Any, command: str, actions_factory: Any,
                 **kwargs: Any) -> RunOutcome:
        actions = actions_factory(env)
        hosts = actions["stop_service"].hosts
        for name in ("old-ctl1", "new-ctl1"):
            host = hosts(name)
            assert isinstance(host, SshHost)
            assert host.run(["echo", "hello"]).stdout.strip() == "hello"
            self.control_dirs.append(host._control())
            assert os.listdir(self.control_dirs[-1]), "no control socket"
        self.masters = [pid for d in self.control_dirs for pid in master_pids(d)]
        if self.fail:
            raise StepFailed(f"{command}.first", "made to fail after using the hosts")
        return RunOutcome(run_id=env.journal.start_run(command, "t", []), command=command,
                          status=RunStatus.DONE, resumed=False, steps_run=(),
                          steps_skipped=())


def run_sbs(args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sys, "argv", ["sbs", *args])
    with pytest.raises(SystemExit) as done:
        cli_main.run()
    return int(done.value.code or 0)


@pytest.mark.parametrize("command,fail", [("prepare", False), ("cutover", True),
                                          ("rollback", False)])
def test_command_leaves_no_control_master_or_directory(
        command: str, fail: bool, sshd: Sshd, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "Close-test-secret-2")
    inventory = ssh_inventory(tmp_path, sshd, sshd.known_hosts)
    engine = UsesHostsThenEnds(fail)
    monkeypatch.setattr(phases, "run_command", engine)
    code = run_sbs([command, "-i", str(inventory), "--state-dir", str(tmp_path / "state"),
                    "--yes"], monkeypatch)
    assert code == (4 if fail else 0)
    assert len(engine.control_dirs) == 2 and engine.masters, "the hosts were never used"
    for control_dir in engine.control_dirs:
        assert os.path.basename(control_dir).startswith("sbs-ssh-")
        assert not os.path.exists(control_dir)
        assert master_pids(control_dir) == []
    assert not any(is_running(pid) for pid in engine.masters)


def test_known_hosts_of_the_inventory_decides_the_host_key(
        sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "Close-test-secret-2")
    inventory = ssh_inventory(tmp_path, sshd, sshd.wrong_known_hosts)
    engine = UsesHostsThenEnds(fail=False)
    monkeypatch.setattr(phases, "run_command", engine)
    code = run_sbs(["prepare", "-i", str(inventory), "--state-dir", str(tmp_path / "state"),
                    "--yes"], monkeypatch)
    assert code == 8  # the host key is not the one known_hosts holds: unreachable


class OverSsh:
    """Stands in for every action of the table: each step runs a command on both
    controllers over ssh through the set's hosts, noting which Hosts it was given and
    the control directories; the step `fail_at` fails after that."""

    def __init__(self, context: Any, seen: dict[str, Any], fail_at: str) -> None:
        self.context, self.seen, self.fail_at = context, seen, fail_at

    def run(self, step: Any, ctx: Any) -> dict[str, Any]:
        self.seen.setdefault("hosts_by_step", {})[step.id] = self.context.hosts
        for name in ("old-ctl1", "new-ctl1"):
            host = self.context.hosts(name)
            assert host.run(["echo", "hello"]).stdout.strip() == "hello"
            control = host._control()
            if control not in self.seen.setdefault("control_dirs", []):
                self.seen["control_dirs"].append(control)
                self.seen.setdefault("masters", []).extend(master_pids(control))
        if step.id == self.fail_at:
            raise StepFailed(step.id, "made to fail after traffic moved")
        return {}


def test_the_automatic_rollback_reuses_the_cutovers_hosts_and_closes_them(
        sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "Close-test-secret-2")
    inventory = ssh_inventory(tmp_path, sshd, sshd.known_hosts)
    seen: dict[str, Any] = {}
    opened: list[Hosts] = []

    class CountedHosts(Hosts):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            opened.append(self)

    monkeypatch.setattr(actions_module, "Hosts", CountedHosts)
    monkeypatch.setattr(actions_module, "ACTIONS", {
        kind: (lambda context: OverSsh(context, seen, fail_at="cutover.verify-vip"))
        for kind in actions_module.ACTIONS})
    code = run_sbs(["cutover", "-i", str(inventory), "--state-dir", str(tmp_path / "state"),
                    "--yes"], monkeypatch)
    assert code == 5  # cutover rolled back by itself
    by_step = seen["hosts_by_step"]
    assert "cutover.verify-vip" in by_step and "rollback.verify-vip" in by_step
    assert len(opened) == 1, "the fallback opened a second Hosts"
    assert all(hosts is opened[0] for hosts in by_step.values())
    assert len(seen["control_dirs"]) == 2 and seen["masters"], "the hosts were never used"
    for control_dir in seen["control_dirs"]:
        assert not os.path.exists(control_dir)
        assert master_pids(control_dir) == []
    assert not any(is_running(pid) for pid in seen["masters"])
