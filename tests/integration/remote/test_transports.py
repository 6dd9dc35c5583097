"""The same behaviours on every transport: LocalHost, SshHost (real sshd), NetnsHost."""

from __future__ import annotations

import getpass
import os
import pwd
import shutil
import signal
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidebyside.remote.base import Host, RemoteError
from sidebyside.remote.local import LocalHost
from sidebyside.remote.netns import NetnsHost
from sidebyside.remote.ssh import SshHost

from .conftest import Sshd, is_running

pytestmark = pytest.mark.integration


def ssh_host(sshd: Sshd, **overrides: object) -> SshHost:
    settings: dict[str, object] = dict(
        name="ssh-ctl", address=sshd.address, port=sshd.port, user=sshd.user,
        identity=str(sshd.client_key), known_hosts=str(sshd.known_hosts))
    settings.update(overrides)
    return SshHost(**settings)  # type: ignore[arg-type]


@pytest.fixture(params=["local", "ssh", "netns"])
def host(request: pytest.FixtureRequest) -> Iterator[Host]:
    if request.param == "local":
        yield LocalHost("local-ctl")
    elif request.param == "netns":
        yield NetnsHost("netns-ctl", request.getfixturevalue("netns"))
    else:
        with ssh_host(request.getfixturevalue("sshd")) as connected:
            yield connected


def test_run_returns_output_and_status(host: Host) -> None:
    argv = ["sh", "-c", "echo out; echo err >&2; exit 0"]
    result = host.run(argv)
    assert (result.returncode, result.stdout, result.stderr) == (0, "out\n", "err\n")
    assert result.host == host.name and result.argv == tuple(argv)


def test_arguments_reach_the_command_unchanged(host: Host) -> None:
    tricky = ["a b", "$HOME", "'quoted'", '"dq"', "semi;colon", "back`tick`", "*"]
    result = host.run(["printf", "%s\\n", *tricky])
    assert result.stdout.splitlines() == tricky


def test_output_is_streamed_line_by_line_while_running(host: Host) -> None:
    arrivals: list[tuple[float, str]] = []
    started = time.monotonic()
    result = host.run(["sh", "-c", "echo first; sleep 1; echo second >&2"],
                      on_output=lambda line: arrivals.append((time.monotonic() - started, line)))
    finished = time.monotonic() - started
    assert [line for _, line in arrivals] == ["first", "second"]
    assert arrivals[0][0] < finished - 0.5, "the first line only arrived at the end"
    assert result.stdout == "first\n" and result.stderr == "second\n"


def test_non_zero_exit_raises_with_host_command_and_stderr_tail(host: Host) -> None:
    script = "for i in $(seq 1 40); do echo line$i >&2; done; exit 7"
    with pytest.raises(RemoteError) as caught:
        host.run(["sh", "-c", script])
    error = caught.value
    assert error.returncode == 7 and error.host == host.name
    assert "line40" in error.stderr_tail and "line1\n" not in error.stderr_tail
    assert str(error).startswith(f"{host.name}: `sh -c") and "status 7" in str(error)


def test_unchecked_failure_returns_the_status(host: Host) -> None:
    assert host.run(["sh", "-c", "exit 3"], check=False).returncode == 3


def test_input_bytes_and_environment(host: Host) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB, every byte value
    assert host.run(["sh", "-c", "cat | wc -c"], input=data).stdout.strip() == str(len(data))
    result = host.run(["sh", "-c", 'echo "$SBS_GREETING"'], env={"SBS_GREETING": "hello there"})
    assert result.stdout == "hello there\n"


def test_timeout_raises_and_stops_the_command(host: Host, tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(RemoteError, match=r"timed out after 1s"):
        host.run(["sh", "-c", f"echo $$ > {pid_file}; exec sleep 30"], timeout=1)
    assert time.monotonic() - started < 5
    pid = int(pid_file.read_text())
    if isinstance(host, SshHost):
        # Killing the ssh client does not signal the remote command (no tty): stop it here.
        os.kill(pid, signal.SIGKILL)
    else:
        time.sleep(0.1)
        assert not is_running(pid)


def test_put_file_is_atomic_with_mode_and_owner(host: Host, tmp_path: Path) -> None:
    target = tmp_path / "keystone.conf"
    target.write_text("old content\n")
    nobody = pwd.getpwnam("nobody")
    host.put_file(str(target), b"[DEFAULT]\ndebug = true\n", mode=0o640, owner="nobody")
    info = target.stat()
    assert stat.S_IMODE(info.st_mode) == 0o640 and info.st_uid == nobody.pw_uid
    assert host.read_file(str(target)) == b"[DEFAULT]\ndebug = true\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keystone.conf"], "temp file left"


def test_put_file_binary_round_trip(host: Host, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    target = tmp_path / "fernet-keys" / "0"
    target.parent.mkdir()
    host.put_file(str(target), data)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert host.read_file(str(target)) == data


def test_put_file_into_missing_directory_raises(host: Host, tmp_path: Path) -> None:
    with pytest.raises(RemoteError) as caught:
        host.put_file(str(tmp_path / "no-such-dir" / "file"), b"x")
    assert caught.value.host == host.name and "no-such-dir" in str(caught.value)


def test_exists_and_reading_a_missing_file(host: Host, tmp_path: Path) -> None:
    present = tmp_path / "present"
    present.write_text("x")
    assert host.exists(str(present)) is True
    assert host.exists(str(tmp_path / "absent")) is False
    with pytest.raises(RemoteError, match="absent"):
        host.read_file(str(tmp_path / "absent"))


@pytest.mark.parametrize("kind", ["local", "ssh", "netns"])
def test_sudo_wraps_commands_and_keeps_the_environment(kind: str, request: pytest.FixtureRequest,
                                                       tmp_path: Path) -> None:
    if shutil.which("sudo") is None:
        pytest.fail("sudo is required for this test (apt-get install sudo)")
    host: Host
    if kind == "local":
        host = LocalHost("local-ctl", sudo=True)
    elif kind == "netns":
        host = NetnsHost("netns-ctl", request.getfixturevalue("netns"), sudo=True)
    else:
        host = ssh_host(request.getfixturevalue("sshd"), sudo=True)
    try:
        result = host.run(["sh", "-c", 'echo "$SUDO_USER:$SBS_MARK"; id -u'],
                          env={"SBS_MARK": "kept"})
        assert result.stdout.splitlines() == [f"{getpass.getuser()}:kept", "0"]
        target = tmp_path / "through-sudo"
        host.put_file(str(target), b"secret-free", mode=0o644)
        assert host.read_file(str(target)) == b"secret-free" and host.exists(str(target))
        assert stat.S_IMODE(target.stat().st_mode) == 0o644
    finally:
        if isinstance(host, SshHost):
            host.close()
