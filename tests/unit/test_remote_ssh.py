"""SshHost argv building and failure descriptions (pure: no process is started)."""

from __future__ import annotations

import os
import shlex

import pytest

from sidebyside.errors import InputError
from sidebyside.remote.ssh import SshHost, describe_ssh_failure, ssh_argv, ssh_options


def option_values(argv: list[str]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for flag, value in zip(argv, argv[1:], strict=False):
        if flag == "-o":
            key, _, setting = value.partition("=")
            values.setdefault(key, []).append(setting)
    return values


def test_defaults_are_batch_strict_and_multiplexed() -> None:
    argv = ssh_argv("10.0.0.11", "true", control_dir="/run/sbs")
    options = option_values(argv)
    assert argv[0] == "ssh" and argv[-3:] == ["--", "10.0.0.11", "true"]
    assert options["BatchMode"] == ["yes"]
    assert options["StrictHostKeyChecking"] == ["yes"]
    assert options["ControlMaster"] == ["auto"]
    assert options["ControlPath"] == ["/run/sbs/%C"]
    assert options["ControlPersist"] == ["60"]
    assert "-p" not in argv and "-l" not in argv and "-i" not in argv and "-J" not in argv


def test_port_user_identity_and_jump() -> None:
    argv = ssh_argv("ctl1.example", "true", control_dir="/c", user="deploy", port=2222,
                    identity="~/.ssh/id_ed25519", jump="admin@bastion:2200")
    assert argv[argv.index("-p") + 1] == "2222"
    assert argv[argv.index("-l") + 1] == "deploy"
    assert argv[argv.index("-i") + 1] == os.path.expanduser("~/.ssh/id_ed25519")
    assert option_values(argv)["IdentitiesOnly"] == ["yes"]
    assert argv[argv.index("-J") + 1] == "admin@bastion:2200"
    assert argv.index("-J") < argv.index("--")


def test_operator_options_come_first_so_they_win() -> None:
    # ssh keeps the first value it sees for an option.
    argv = ssh_argv("h", "true", control_dir="/c",
                    options={"ConnectTimeout": "3", "ControlPersist": "5"})
    options = option_values(argv)
    assert options["ConnectTimeout"][0] == "3" and options["ControlPersist"][0] == "5"


def test_known_hosts_file_is_passed() -> None:
    argv = ssh_argv("h", "true", control_dir="/c", known_hosts="/etc/sbs/known_hosts")
    assert option_values(argv)["UserKnownHostsFile"] == ["/etc/sbs/known_hosts"]


@pytest.mark.parametrize("key,value", [("StrictHostKeyChecking", "no"),
                                       ("stricthostkeychecking", "accept-new"),
                                       ("BatchMode", "no")])
def test_weakening_batch_mode_or_host_key_checking_is_refused(key: str, value: str) -> None:
    with pytest.raises(InputError, match=key):
        ssh_options(control_dir="/c", options={key: value})


def test_option_names_cannot_smuggle_arguments() -> None:
    with pytest.raises(InputError):
        ssh_options(control_dir="/c", options={"ProxyCommand=sh -c id #": "x"})


def test_address_that_looks_like_an_option_is_refused() -> None:
    with pytest.raises(InputError, match="-oProxyCommand"):
        ssh_argv("-oProxyCommand=id", "true", control_dir="/c")


def test_bad_options_fail_when_the_host_is_built() -> None:
    with pytest.raises(InputError):
        SshHost("c1", "10.0.0.11", options={"BatchMode": "no"})


def test_remote_command_is_quoted_for_the_remote_shell() -> None:
    host = SshHost("c1", "10.0.0.11", control_dir="/tmp/sbs-unit-control")
    argv = ["sh", "-c", "echo 'it works' > /tmp/x; ls $HOME"]
    spawn, env = host._spawn(argv, env=None, sudo=False)
    assert env is None
    assert shlex.split(spawn[-1]) == argv


def test_sudo_and_environment_wrap_the_remote_command() -> None:
    host = SshHost("c1", "10.0.0.11", sudo=True, control_dir="/tmp/sbs-unit-control")
    spawn, _ = host._spawn(["keystone-manage", "db_sync"], env={"OS_DEBUG": "1"}, sudo=True)
    assert shlex.split(spawn[-1]) == ["sudo", "-n", "--", "env", "OS_DEBUG=1",
                                      "keystone-manage", "db_sync"]


@pytest.mark.parametrize("stderr,meaning", [
    ("ssh: connect to host 10.0.0.9 port 22: Connection refused", "connection refused"),
    ("root@10.0.0.9: Permission denied (publickey).", "authentication failed"),
    ("No ED25519 host key is known for [h]:22 and you have requested strict checking.\n"
     "Host key verification failed.", "host key is not trusted"),
    ("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@", "does not match"),
    ("ssh: Could not resolve hostname nowhere: Name or service not known", "does not resolve"),
    ("ssh: connect to host 10.0.0.9 port 22: Connection timed out", "timed out"),
    ("something new", "connection or authentication failed"),
])
def test_ssh_failures_are_described(stderr: str, meaning: str) -> None:
    assert meaning in describe_ssh_failure(stderr)


def test_destination_names_user_address_and_port() -> None:
    assert SshHost("c1", "10.0.0.11", user="root", port=2222).destination == "root@10.0.0.11:2222"
    assert SshHost("c1", "10.0.0.11").destination == "10.0.0.11"


@pytest.mark.parametrize("key,value", [
    ("UserKnownHostsFile", "/dev/null"), ("GlobalKnownHostsFile", "/dev/null"),
    ("ProxyCommand", "nc %h %p"), ("LocalCommand", "id"), ("PermitLocalCommand", "yes"),
    ("KnownHostsCommand", "/bin/echo"), ("RemoteCommand", "id"),
    ("PKCS11Provider", "/tmp/evil.so"), ("ForwardAgent", "yes"),
    ("VerifyHostKeyDNS", "yes")])
def test_options_that_weaken_host_keys_or_run_commands_are_refused(key: str,
                                                                   value: str) -> None:
    with pytest.raises(InputError, match=f"{key}.*allow_unsafe_ssh_options"):
        ssh_options(control_dir="/c", options={key: value})
    # an explicit per-host allowance lets them through, first so that they win
    argv = ssh_options(control_dir="/c", options={key: value}, allow_unsafe=True)
    assert option_values(["ssh", *argv])[key][0] == value


def test_batch_mode_stays_required_even_when_unsafe_options_are_allowed() -> None:
    with pytest.raises(InputError, match="BatchMode"):
        ssh_options(control_dir="/c", options={"BatchMode": "no"}, allow_unsafe=True)


def test_harmless_values_of_listed_options_are_accepted() -> None:
    argv = ssh_options(control_dir="/c", options={"ForwardAgent": "no",
                                                  "ProxyCommand": "none",
                                                  "UserKnownHostsFile": "/etc/ssh/kh"})
    assert option_values(["ssh", *argv])["ProxyCommand"] == ["none"]


def test_connect_timeout_and_server_alive_come_from_the_caller() -> None:
    argv = ssh_argv("h", "true", control_dir="/c", connect_timeout=4.2,
                    server_alive_interval=7)
    options = option_values(argv)
    assert options["ConnectTimeout"] == ["5"]  # whole seconds, never shorter
    assert options["ServerAliveInterval"] == ["7"]
    assert options["ServerAliveCountMax"] == ["3"]


def test_ssh_host_passes_known_hosts_and_timeouts_to_every_call() -> None:
    host = SshHost("c1", "10.0.0.11", known_hosts="/etc/sbs/kh", connect_timeout=3,
                   server_alive_interval=9)
    argv, _ = host._spawn(["true"], env=None, sudo=False)
    options = option_values(argv)
    assert options["UserKnownHostsFile"] == ["/etc/sbs/kh"]
    assert options["ConnectTimeout"] == ["3"] and options["ServerAliveInterval"] == ["9"]
    host.close()
