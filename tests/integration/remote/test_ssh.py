"""SshHost against a real sshd: connection failures, host keys, the control master."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

from sidebyside.errors import InputError
from sidebyside.remote.base import RemoteError
from sidebyside.remote.ssh import SshHost

from .conftest import Sshd, free_port, generate_key
from .test_transports import ssh_host

pytestmark = pytest.mark.integration


def test_unreachable_port_names_the_host(sshd: Sshd) -> None:
    port = free_port()
    with ssh_host(sshd, name="gone-ctl", port=port) as host:
        with pytest.raises(RemoteError) as caught:
            host.run(["true"])
    message = str(caught.value)
    assert message.startswith("gone-ctl: `true` failed")
    assert f"{sshd.address}:{port}" in message and "connection refused" in message
    assert caught.value.returncode == 255


def test_unreachable_also_raises_when_not_checking(sshd: Sshd) -> None:
    with ssh_host(sshd, port=free_port()) as host, pytest.raises(RemoteError):
        host.run(["true"], check=False)


def test_wrong_host_key_is_refused(sshd: Sshd) -> None:
    with ssh_host(sshd, known_hosts=str(sshd.wrong_known_hosts)) as host:
        with pytest.raises(RemoteError, match="host key"):
            host.run(["true"])


def test_unknown_host_key_is_refused_not_accepted(sshd: Sshd, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with ssh_host(sshd, known_hosts=str(empty)) as host:
        with pytest.raises(RemoteError, match="host key"):
            host.run(["true"])
    assert empty.read_text() == "", "the unknown key was written to known_hosts"


def test_wrong_client_key_is_an_authentication_failure(sshd: Sshd, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    generate_key(stranger)
    with ssh_host(sshd, identity=str(stranger)) as host:
        with pytest.raises(RemoteError, match="authentication failed"):
            host.run(["true"])


def test_control_master_is_reused_and_closed(sshd: Sshd) -> None:
    # Not under tmp_path: pytest's paths are too long for a unix socket.
    control_dir = Path(tempfile.mkdtemp(prefix="sbs-t-")) / "control"
    host = ssh_host(sshd, control_dir=str(control_dir))
    try:
        first = host.run(["true"]).duration
        sockets = list(control_dir.iterdir())
        assert len(sockets) == 1 and sockets[0].is_socket()
        assert oct(control_dir.stat().st_mode & 0o777) == "0o700"
        again = min(host.run(["true"]).duration for _ in range(5))
        assert again < first, (first, again)
    finally:
        host.close()
    deadline = time.monotonic() + 5
    while list(control_dir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(control_dir.iterdir()) == [], "the control master is still running"
    control_dir.rmdir()
    control_dir.parent.rmdir()


def test_too_long_control_dir_is_refused_before_connecting(sshd: Sshd) -> None:
    with ssh_host(sshd, control_dir="/tmp/" + "d" * 80) as host:
        with pytest.raises(InputError, match="too long"):
            host.run(["true"])
    assert not os.path.exists("/tmp/" + "d" * 80)


def test_private_control_dir_is_removed_on_close(sshd: Sshd) -> None:
    host = ssh_host(sshd)
    host.run(["true"])
    control_dir = host._control_dir
    assert control_dir is not None and os.path.isdir(control_dir)
    host.close()
    assert not os.path.exists(control_dir)


def test_remote_command_exiting_255_is_reported_with_its_stderr(sshd: Sshd) -> None:
    with ssh_host(sshd) as host, pytest.raises(RemoteError) as caught:
        host.run(["sh", "-c", "echo own-failure >&2; exit 255"])
    assert "own-failure" in str(caught.value)


def test_repr_names_the_destination(sshd: Sshd) -> None:
    host = SshHost("c1", sshd.address, user="admin", port=2222)
    assert repr(host) == f"SshHost('c1', 'admin@{sshd.address}:2222')"


def test_jump_host_is_used(sshd: Sshd, tmp_path: Path) -> None:
    # The jump leg reads only the ssh config file, so trust and identity go there.
    config = tmp_path / "ssh_config"
    config.write_text("Host *\n"
                      f"  UserKnownHostsFile {sshd.known_hosts}\n"
                      f"  IdentityFile {sshd.client_key}\n"
                      "  IdentitiesOnly yes\n  BatchMode yes\n  StrictHostKeyChecking yes\n")
    through = f"{sshd.user}@{sshd.second_address}:{sshd.port}"
    with ssh_host(sshd, jump=through, config_file=str(config)) as host:
        assert host.run(["echo", "via jump"]).stdout == "via jump\n"
    dead_jump = f"{sshd.user}@{sshd.second_address}:{free_port()}"
    with ssh_host(sshd, jump=dead_jump, config_file=str(config)) as host:
        with pytest.raises(RemoteError, match=f"via jump host {dead_jump}"):
            host.run(["true"])
