"""Run commands on a remote host with the OpenSSH client.

The `ssh` binary (not a Python SSH library) is used on purpose: the operator's
~/.ssh/config, agent, ProxyJump and known_hosts all work exactly as they do on
the command line. One control master per host keeps repeated commands cheap.
"""

from __future__ import annotations

import math
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence

from sidebyside.errors import InputError
from sidebyside.remote.base import CommandResult, OutputSink
from sidebyside.remote.local import ProcessHost, command_failed, privileged_argv

SSH_CONNECTION_FAILED = 255
"""ssh's own exit status for connection and authentication problems."""

DEFAULT_CONNECT_TIMEOUT = 10
# A dead peer (half-open connection) is noticed after interval * count_max seconds.
DEFAULT_SERVER_ALIVE_INTERVAL = 15
DEFAULT_SERVER_ALIVE_COUNT_MAX = 3
# sun_path holds 108 bytes on Linux; ssh expands %C to 40 hex characters.
_MAX_SOCKET_PATH = 107
CONTROL_PERSIST_SECONDS = 60

# A batch run must never prompt: not even an explicit allowance changes this one.
_REQUIRED_OPTIONS = {"batchmode": "yes"}

# Options that stop ssh from proving who it talks to, or that run local commands or load
# code: refused unless the inventory host says `allow_unsafe_ssh_options: true`.
# (lowercased name, predicate on the lowercased value, why)
_UNSAFE_OPTIONS: tuple[tuple[str, Callable[[str], bool], str], ...] = (
    ("stricthostkeychecking", lambda v: v != "yes", "weakens host key checking"),
    ("userknownhostsfile", lambda v: "/dev/null" in v or v == "none",
     "throws host keys away (use ssh.known_hosts for a file of your own)"),
    ("globalknownhostsfile", lambda v: "/dev/null" in v or v == "none",
     "throws host keys away"),
    ("knownhostscommand", lambda v: v != "none", "runs a command to decide host keys"),
    ("verifyhostkeydns", lambda v: v == "yes", "trusts DNS for host keys"),
    ("proxycommand", lambda v: v != "none", "runs a local command (use ssh.jump)"),
    ("localcommand", lambda v: True, "runs a local command"),
    ("permitlocalcommand", lambda v: v == "yes", "lets ssh run local commands"),
    ("remotecommand", lambda v: v != "none", "replaces the command sbs runs"),
    ("pkcs11provider", lambda v: v != "none", "loads a library into ssh"),
    ("securitykeyprovider", lambda v: v != "internal", "loads a library into ssh"),
    ("forwardagent", lambda v: v != "no", "lets the remote host use your agent"),
)


def unsafe_ssh_option(key: str, value: object) -> str | None:
    """Why `key=value` weakens ssh's guarantees, or None when it does not (pure)."""
    lowered = str(value).strip().lower()
    for name, unsafe, why in _UNSAFE_OPTIONS:
        if key.lower() == name and unsafe(lowered):
            return why
    return None


def check_ssh_options(options: Mapping[str, object], *, allow_unsafe: bool = False) -> None:
    """Refuse option names that are not plain ssh_config names, BatchMode other than yes,
    and (unless allow_unsafe) options that weaken host key checking or run commands.

    Raises InputError naming the option.
    """
    for key, value in options.items():
        if not key.isalnum():
            raise InputError(f"ssh option {key!r} is not an ssh_config option name")
        required = _REQUIRED_OPTIONS.get(key.lower())
        if required is not None and str(value).lower() != required:
            raise InputError(f"ssh option {key}={value} is not allowed: sbs needs "
                             f"{key}={required}")
        why = unsafe_ssh_option(key, value)
        if why and not allow_unsafe:
            raise InputError(f"ssh option {key}={value} is refused: it {why} (set "
                             f"allow_unsafe_ssh_options: true on the host to accept it)")


# (stderr fragment, what it means), most specific first.
_SSH_FAILURES: tuple[tuple[str, str], ...] = (
    ("remote host identification has changed", "the host key does not match known_hosts"),
    ("host key verification failed", "the host key is not trusted (not in known_hosts"
                                      " or different)"),
    ("permission denied", "authentication failed"),
    ("connection refused", "connection refused"),
    ("could not resolve hostname", "the host name does not resolve"),
    ("connection timed out", "connection timed out"),
    ("operation timed out", "connection timed out"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network is unreachable"),
    ("connection closed", "the connection was closed"),
)


def describe_ssh_failure(stderr: str) -> str:
    """A short reason for an ssh exit status 255, read from ssh's stderr."""
    lowered = stderr.lower()
    for fragment, meaning in _SSH_FAILURES:
        if fragment in lowered:
            return meaning
    return "connection or authentication failed"


def ssh_destination(address: str, user: str | None = None, port: int | None = None) -> str:
    """`user@address:port` as shown to people (not an ssh argument)."""
    text = f"{user}@{address}" if user else address
    return f"{text}:{port}" if port else text


def ssh_options(*, control_dir: str, known_hosts: str | None = None,
                options: Mapping[str, str] | None = None,
                connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                server_alive_interval: float = DEFAULT_SERVER_ALIVE_INTERVAL,
                allow_unsafe: bool = False) -> list[str]:
    """The `-o` arguments for every ssh call of one host.

    The operator's options come first because ssh keeps the first value it sees for
    an option; BatchMode cannot be weakened, host key checking only with allow_unsafe.

    Raises InputError for a refused option (see check_ssh_options).
    """
    user_options = dict(options or {})
    check_ssh_options(user_options, allow_unsafe=allow_unsafe)
    if known_hosts:
        user_options.setdefault("UserKnownHostsFile", os.path.expanduser(known_hosts))
    defaults = {
        "BatchMode": "yes",
        "StrictHostKeyChecking": "yes",
        "ControlMaster": "auto",
        # %C is a hash of the connection: short enough for the socket path limit.
        "ControlPath": os.path.join(control_dir, "%C"),
        "ControlPersist": str(CONTROL_PERSIST_SECONDS),
        "ConnectTimeout": str(max(1, math.ceil(connect_timeout))),
        "ServerAliveInterval": str(max(1, math.ceil(server_alive_interval))),
        "ServerAliveCountMax": str(DEFAULT_SERVER_ALIVE_COUNT_MAX),
    }
    words: list[str] = []
    for key, value in [*user_options.items(), *defaults.items()]:
        words += ["-o", f"{key}={value}"]
    return words


def ssh_argv(address: str, remote_command: str | None, *, control_dir: str,
             user: str | None = None, port: int | None = None, identity: str | None = None,
             jump: str | None = None, options: Mapping[str, str] | None = None,
             known_hosts: str | None = None, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
             server_alive_interval: float = DEFAULT_SERVER_ALIVE_INTERVAL,
             allow_unsafe: bool = False, config_file: str | None = None,
             control_command: str | None = None) -> list[str]:
    """The full local argv of one ssh call (pure; no process is started).

    `remote_command` is one shell-quoted string, run by the remote user's shell.
    `control_command` (e.g. "exit") talks to the control master instead.
    `config_file` replaces ~/.ssh/config (`ssh -F`). The jump leg of `jump` (ProxyJump)
    only sees that config file, not the `-o` options: configure the jump host there.

    Raises InputError for an address that would be read as an option, or bad options.
    """
    if not address or address.startswith("-"):
        raise InputError(f"ssh address {address!r} is not a host name or address")
    argv = ["ssh", "-T"]
    if config_file:
        argv += ["-F", os.path.expanduser(config_file)]
    argv += ssh_options(control_dir=control_dir, known_hosts=known_hosts, options=options,
                        connect_timeout=connect_timeout,
                        server_alive_interval=server_alive_interval, allow_unsafe=allow_unsafe)
    if port:
        argv += ["-p", str(port)]
    if user:
        argv += ["-l", user]
    if identity:
        argv += ["-i", os.path.expanduser(identity), "-o", "IdentitiesOnly=yes"]
    if jump:
        argv += ["-J", jump]
    if control_command:
        argv += ["-O", control_command]
    argv += ["--", address]
    if remote_command is not None:
        argv.append(remote_command)
    return argv


class SshHost(ProcessHost):
    """A host reached with the OpenSSH client. Call `close()` (or use `with`) when done."""

    def __init__(self, name: str, address: str, user: str | None = None,
                 port: int | None = None, identity: str | None = None,
                 jump: str | None = None, options: Mapping[str, str] | None = None,
                 sudo: bool = False, control_dir: str | None = None,
                 known_hosts: str | None = None,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 server_alive_interval: float = DEFAULT_SERVER_ALIVE_INTERVAL,
                 allow_unsafe_options: bool = False,
                 config_file: str | None = None) -> None:
        super().__init__(name, sudo=sudo)
        self.address = address
        self.user = user
        self.port = port
        self.identity = identity
        self.jump = jump
        self.options = dict(options or {})
        self.known_hosts = known_hosts
        self.connect_timeout = connect_timeout
        self.server_alive_interval = server_alive_interval
        self.allow_unsafe_options = allow_unsafe_options
        self.config_file = config_file
        self._control_dir = control_dir
        self._owns_control_dir = control_dir is None
        self._control_lock = threading.Lock()
        # Fail on bad options now, not at the first command.
        self._argv(None, control_dir="/")

    @property
    def destination(self) -> str:
        return ssh_destination(self.address, self.user, self.port)

    def _control(self) -> str:
        """The control directory, created on first use. Raises InputError when it is too
        deep for a unix socket path."""
        # Private: anyone who can open the socket can run commands on the host as us.
        with self._control_lock:
            if self._control_dir is None:
                self._control_dir = tempfile.mkdtemp(prefix="sbs-ssh-")
            else:
                if len(os.path.join(self._control_dir, "0" * 40)) > _MAX_SOCKET_PATH:
                    raise InputError(f"{self.name}: ssh control directory {self._control_dir} "
                                     f"is too long for a socket path (keep it under "
                                     f"{_MAX_SOCKET_PATH - 41} characters)")
                os.makedirs(self._control_dir, mode=0o700, exist_ok=True)
                os.chmod(self._control_dir, 0o700)  # also when it existed before
            return self._control_dir

    def _argv(self, remote_command: str | None, *, control_dir: str,
              control_command: str | None = None) -> list[str]:
        return ssh_argv(self.address, remote_command, control_dir=control_dir,
                        user=self.user, port=self.port, identity=self.identity,
                        jump=self.jump, options=self.options, known_hosts=self.known_hosts,
                        connect_timeout=self.connect_timeout,
                        server_alive_interval=self.server_alive_interval,
                        allow_unsafe=self.allow_unsafe_options, config_file=self.config_file,
                        control_command=control_command)

    def _spawn(self, argv: Sequence[str], *, env: dict[str, str] | None,
               sudo: bool) -> tuple[list[str], dict[str, str] | None]:
        remote_command = shlex.join(privileged_argv(argv, env=env, sudo=sudo))
        return self._argv(remote_command, control_dir=self._control()), None

    def _run(self, argv: Sequence[str], *, timeout: float = 600.0, check: bool = True,
             input: bytes | None = None, env: dict[str, str] | None = None,
             on_output: OutputSink | None = None,
             sudo: bool | None = None) -> tuple[CommandResult, bytes]:
        """Raises RemoteError on timeout, on a connection or authentication failure
        (whatever `check` says: ssh exit status 255), and on a non-zero exit when check."""
        result, stdout = super()._run(argv, timeout=timeout, check=False, input=input,
                                      env=env, on_output=on_output, sudo=sudo)
        if result.returncode == SSH_CONNECTION_FAILED:
            # A remote command exiting 255 looks the same; the stderr tail tells them apart.
            via = f" via jump host {self.jump}" if self.jump else ""
            error = command_failed(result, f"failed: cannot use ssh to {self.destination}{via}: "
                                           f"{describe_ssh_failure(result.stderr)}")
            error.hint = ("check that `ssh` to this host works non-interactively "
                          "(BatchMode, key in known_hosts)")
            raise error
        if check and not result.ok:
            raise command_failed(result)
        return result, stdout

    def close(self) -> None:
        """Stop this host's control master and remove the private control directory."""
        if self._control_dir is None or not os.path.isdir(self._control_dir):
            return
        if os.listdir(self._control_dir):
            argv = self._argv(None, control_dir=self._control_dir, control_command="exit")
            # No master running is fine; either way there is nothing left to stop.
            try:
                subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=30, check=False)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self._owns_control_dir:
            shutil.rmtree(self._control_dir, ignore_errors=True)
            self._control_dir = None

    def __enter__(self) -> SshHost:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SshHost({self.name!r}, {self.destination!r})"

