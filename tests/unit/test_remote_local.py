"""Command wrapping, error building and redaction of LocalHost/NetnsHost."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sidebyside.errors import InputError
from sidebyside.redact import forget_secrets, register_secret
from sidebyside.remote.base import RemoteError
from sidebyside.remote.local import (
    LocalHost,
    display_command,
    privileged_argv,
    put_file_argv,
)
from sidebyside.remote.netns import NetnsHost, netns_argv


@pytest.fixture
def secret() -> Iterator[str]:
    value = "Zq8-unit-test-db-password"
    register_secret(value)
    yield value
    forget_secrets()


def test_display_command_is_shell_quoted() -> None:
    assert display_command(["mysql", "-e", "SELECT 1; SELECT 2"]) == "mysql -e 'SELECT 1; SELECT 2'"


def test_privileged_argv_without_sudo_or_env_is_unchanged() -> None:
    assert privileged_argv(["ls", "/"], env=None, sudo=False) == ["ls", "/"]


def test_privileged_argv_puts_env_inside_sudo() -> None:
    assert privileged_argv(["ls"], env={"A": "1 2"}, sudo=True) == [
        "sudo", "-n", "--", "env", "A=1 2", "ls"]


@pytest.mark.parametrize("name", ["", "1ABC", "A=B", "A B", "-i"])
def test_invalid_environment_names_are_refused(name: str) -> None:
    with pytest.raises(InputError):
        privileged_argv(["ls"], env={name: "x"}, sudo=False)


def test_local_host_passes_env_to_the_process_not_the_command_line() -> None:
    spawn, env = LocalHost()._spawn(["ls"], env={"TOKEN": "x"}, sudo=False)
    assert spawn == ["ls"] and env == {"TOKEN": "x"}
    spawn, env = LocalHost(sudo=True)._spawn(["ls"], env=None, sudo=True)
    assert spawn == ["sudo", "-n", "--", "ls"] and env is None


def test_netns_host_wraps_in_ip_netns_exec() -> None:
    spawn, _ = NetnsHost("lb1", "sbs-lb1")._spawn(["ip", "addr"], env=None, sudo=False)
    assert spawn == ["ip", "netns", "exec", "sbs-lb1", "ip", "addr"]
    spawn, _ = NetnsHost("lb1", "sbs-lb1", sudo=True)._spawn(["true"], env=None, sudo=True)
    assert spawn == ["sudo", "-n", "--", "ip", "netns", "exec", "sbs-lb1", "true"]


@pytest.mark.parametrize("name", ["", "-n", "../x"])
def test_bad_namespace_names_are_refused(name: str) -> None:
    with pytest.raises(InputError):
        netns_argv(name, ["true"])


def test_put_file_argv_passes_path_and_owner_as_arguments() -> None:
    argv = put_file_argv("/etc/a b;rm -rf x", mode=0o640, owner="keystone", group="keystone")
    assert argv[:2] == ["sh", "-c"] and argv[4:] == ["/etc/a b;rm -rf x", "640",
                                                    "keystone:keystone"]
    assert put_file_argv("/x", mode=0o600, owner=None, group="adm")[-1] == ":adm"
    assert put_file_argv("/x", mode=0o600, owner=None, group=None)[-1] == ""


def test_empty_command_is_refused() -> None:
    with pytest.raises(InputError):
        LocalHost().run([])


def test_password_in_a_failing_command_is_redacted(secret: str) -> None:
    lines: list[str] = []
    with pytest.raises(RemoteError) as caught:
        LocalHost("db1").run(
            ["sh", "-c", f"echo 'connecting with {secret}'; echo 'denied for {secret}' >&2; exit 1",
             "--password", secret], on_output=lines.append)
    error = caught.value
    assert secret not in str(error) and secret not in error.stderr_tail
    assert secret not in error.command
    assert "denied for ***" in error.stderr_tail and str(error).startswith("db1: `sh -c")
    assert lines and all(secret not in line for line in lines)
    assert "connecting with ***" in lines


def test_missing_program_names_the_host_and_program() -> None:
    with pytest.raises(RemoteError, match=r"^ctl9: `sbs-no-such-program --x` could not start"):
        LocalHost("ctl9").run(["sbs-no-such-program", "--x"])


def test_output_lines_are_split_across_reads_and_long_lines_clipped() -> None:
    from sidebyside.remote.local import _MAX_SHOWN_LINE, _LineSplitter

    shown: list[str] = []
    splitter = _LineSplitter(shown.append)
    for block in [b"ke", b"ystone\nglan", b"ce\r\n", b"x" * _MAX_SHOWN_LINE, b"y" * 10,
                  b"\nnova"]:
        splitter.feed(block)
    splitter.finish()
    assert shown[:2] == ["keystone", "glance"] and shown[3] == "nova"
    assert shown[2] == "x" * _MAX_SHOWN_LINE + " [line clipped]"
    assert len(shown) == 4


def test_error_tail_keeps_the_last_lines_and_clips_wide_ones() -> None:
    from sidebyside.remote.local import error_tail

    text = "\n".join(f"line{i}" for i in range(30)) + "\n" + "z" * 5000
    clipped = error_tail(text, lines=3, width=100).splitlines()
    assert clipped[:2] == ["line28", "line29"]
    assert clipped[2] == "z" * 100 + " [clipped]"


def test_a_failing_output_callback_does_not_stall_the_command() -> None:
    seen: list[str] = []

    def fragile(line: str) -> None:
        seen.append(line)
        raise ValueError("console went away")

    # 200k lines overflow any pipe buffer: the command finishes only if the pipe is drained.
    result = LocalHost().run(["seq", "1", "200000"], on_output=fragile, timeout=20)
    assert seen == ["1"] and result.stdout.splitlines()[-1] == "200000"
