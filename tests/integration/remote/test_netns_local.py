"""What only NetnsHost and LocalHost do."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
from pathlib import Path

import pytest

from sidebyside.remote.base import RemoteError
from sidebyside.remote.local import LocalHost
from sidebyside.remote.netns import NetnsHost

from .conftest import is_running

pytestmark = pytest.mark.integration


def link_names(output: str) -> list[str]:
    return [line.split(":")[1].strip().split("@")[0] for line in output.splitlines()]


def test_netns_commands_run_inside_the_namespace(netns: str) -> None:
    host = NetnsHost("ns-ctl", netns)
    inside = link_names(host.run(["ip", "-o", "link"]).stdout)
    outside = link_names(subprocess.run(["ip", "-o", "link"], capture_output=True, text=True,
                                        check=True).stdout)
    assert inside == ["lo"]
    assert set(outside) != {"lo"}, "this machine has no other interface to tell them apart"
    host.run(["ip", "link", "set", "lo", "up"])
    addresses = host.run(["ip", "addr"]).stdout
    assert "inet 127.0.0.1/8" in addresses and "UP" in addresses


def test_netns_unknown_namespace_raises(tmp_path: Path) -> None:
    host = NetnsHost("ns-missing", "sbs-test-does-not-exist")
    with pytest.raises(RemoteError) as caught:
        host.run(["true"])
    assert caught.value.host == "ns-missing" and "sbs-test-does-not-exist" in str(caught.value)


def test_local_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild"
    script = f"sleep 30 & echo $! > {pid_file}; wait"
    with pytest.raises(RemoteError, match="timed out after 0.5s"):
        LocalHost().run(["sh", "-c", script], timeout=0.5)
    grandchild = int(pid_file.read_text())
    if is_running(grandchild):
        os.kill(grandchild, signal.SIGKILL)
        pytest.fail("the background child of a timed-out command survived")


def test_local_put_file_unknown_owner_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "conf"
    with pytest.raises(RemoteError, match="no-such-user-sbs"):
        LocalHost().put_file(str(target), b"x", owner="no-such-user-sbs")
    assert list(tmp_path.iterdir()) == []


def test_local_file_operations_go_through_sudo_when_not_root(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretend to be an unprivileged user so that the file calls take the sudo command path
    # (sh/cat/test under `sudo -n`), the one a non-root operator uses.
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    host = LocalHost("local-sudo", sudo=True)
    target = tmp_path / "nova.conf"
    host.put_file(str(target), b"[DEFAULT]\n", mode=0o640, owner="nobody", group="root")
    info = target.stat()
    nobody = pwd.getpwnam("nobody").pw_uid
    assert (oct(info.st_mode & 0o777), info.st_uid, info.st_gid) == ("0o640", nobody, 0)
    assert host.read_file(str(target)) == b"[DEFAULT]\n"
    assert host.exists(str(target)) and not host.exists(str(tmp_path / "nope"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nova.conf"]
