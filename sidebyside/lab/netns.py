"""Network namespaces joined by a bridge, and keepalived running in each.

For the lab and the keepalived tests: every name this module creates starts with
`sbs-` (namespaces, the bridge, the host ends of the veth pairs), so a leftover is
recognisable, and processes are started and stopped by PID only.

keepalived facts this follows (2.2.7): each instance needs its own pid files (`-p`,
`-r`, `-c`), or a second instance on the machine refuses to start; and a restart
within about 1 s of a stop fails, so `KeepalivedInNetns.start` waits until the
previous process is gone and its pid files removed.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sidebyside.errors import InputError
from sidebyside.remote.local import LocalHost

PREFIX = "sbs-"
_MAX_IFNAME = 15


def check_lab_name(kind: str, name: str) -> str:
    """Raises InputError unless `name` starts with sbs- and fits an interface name."""
    if not name.startswith(PREFIX) or len(name) > _MAX_IFNAME or "/" in name or " " in name:
        raise InputError(f"{kind} name {name!r} must start with {PREFIX!r} and have at most "
                         f"{_MAX_IFNAME} characters")
    return name


def host_veth_name(namespace: str) -> str:
    """The root-namespace end of a namespace's veth pair: short, stable, sbs- prefixed."""
    return PREFIX + "v" + hashlib.sha1(namespace.encode()).hexdigest()[:8]


def _ip(*args: str, check: bool = True) -> None:
    LocalHost("lab").run(["ip", *args], timeout=30, check=check)


def namespace_exists(name: str) -> bool:
    listing = LocalHost("lab").run(["ip", "netns", "list"], timeout=30).stdout
    return any(line.split()[0] == name for line in listing.splitlines() if line.strip())


@dataclass
class BridgedNamespaces:
    """Namespaces, each with `eth0` (its address) on one bridge in the root namespace.

    `bridge_address` (address/prefix) gives the root namespace an address on the bridge,
    for probes from the host; None keeps the root namespace off that network.
    """

    bridge: str
    members: Mapping[str, str]             # namespace -> address/prefix of its eth0
    bridge_address: str | None = None
    interface: str = "eth0"
    created: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_lab_name("bridge", self.bridge)
        for namespace in self.members:
            check_lab_name("namespace", namespace)

    def create(self) -> None:
        """Create the bridge, namespaces and veth pairs (removing leftovers of the same
        names first). Raises RemoteError when `ip` fails (needs root)."""
        self.destroy()
        _ip("link", "add", self.bridge, "type", "bridge")
        self.created.append(f"bridge {self.bridge}")
        if self.bridge_address:
            _ip("addr", "add", self.bridge_address, "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for namespace, address in self.members.items():
            outer = host_veth_name(namespace)
            _ip("netns", "add", namespace)
            self.created.append(f"netns {namespace}")
            _ip("link", "add", outer, "type", "veth", "peer", "name", self.interface,
                "netns", namespace)
            _ip("link", "set", outer, "master", self.bridge)
            _ip("link", "set", outer, "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
            _ip("-n", namespace, "addr", "add", address, "dev", self.interface)
            _ip("-n", namespace, "link", "set", self.interface, "up")

    def destroy(self) -> None:
        """Remove the namespaces (their veth ends go with them) and the bridge; missing
        pieces are fine. Stop processes inside first: `ip netns del` does not."""
        for namespace in self.members:
            _ip("link", "del", host_veth_name(namespace), check=False)
            if namespace_exists(namespace):
                _ip("netns", "del", namespace, check=False)
        _ip("link", "del", self.bridge, check=False)
        self.created.clear()

    def __enter__(self) -> BridgedNamespaces:
        self.create()
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()


def addresses_in(namespace: str) -> str:
    """`ip -o addr show` inside the namespace."""
    return LocalHost("lab").run(["ip", "netns", "exec", namespace, "ip", "-o", "addr",
                                 "show"], timeout=30).stdout


@dataclass
class KeepalivedInNetns:
    """One keepalived (VRRP only) in a namespace, its files under `run_dir`."""

    namespace: str
    config: Path
    run_dir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def pid_files(self) -> dict[str, Path]:
        return {"main": self.run_dir / "keepalived.pid", "vrrp": self.run_dir / "vrrp.pid",
                "checkers": self.run_dir / "checkers.pid"}

    @property
    def log_file(self) -> Path:
        return self.run_dir / "keepalived.log"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.poll() is None else None

    def start(self, *, settle: float = 5.0) -> int:
        """Start keepalived in the foreground of its own session; return its PID.
        Raises InputError when a previous instance's pid files remain after `settle` s,
        RuntimeError when keepalived exits at once."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + settle
        while any(p.exists() for p in self.pid_files.values()):
            if time.monotonic() > deadline:
                raise InputError(f"keepalived in {self.namespace}: pid files remain in "
                                 f"{self.run_dir}; is another instance running?")
            time.sleep(0.1)
        files = self.pid_files
        argv = ["ip", "netns", "exec", self.namespace, "keepalived", "--dont-fork",
                "--log-console", "--log-detail", "--vrrp", "-f", str(self.config),
                "-p", str(files["main"]), "-r", str(files["vrrp"]),
                "-c", str(files["checkers"])]
        with open(self.log_file, "ab") as log:
            # `ip netns exec` execs keepalived: the PID is keepalived's own
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        time.sleep(0.2)
        if self.process.poll() is not None:
            raise RuntimeError(f"keepalived in {self.namespace} exited at once: "
                               f"{self.log_file.read_text()[-2000:]}")
        return self.process.pid

    def stop(self, *, timeout: float = 10.0) -> None:
        """SIGTERM by PID, SIGKILL after `timeout`; waits for the pid files to go."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # its own session: the VRRP child too
                self.process.wait(timeout=timeout)
        deadline = time.monotonic() + 2
        while any(p.exists() for p in self.pid_files.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        for path in self.pid_files.values():  # after SIGKILL nobody removed them
            path.unlink(missing_ok=True)
        self.process = None
