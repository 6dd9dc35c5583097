"""From an inventory host entry to a connected `Host`."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from sidebyside.errors import InputError
from sidebyside.remote.base import Host
from sidebyside.remote.local import LocalHost
from sidebyside.remote.netns import NetnsHost
from sidebyside.remote.ssh import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_SERVER_ALIVE_INTERVAL,
    SshHost,
)

Transport = Literal["local", "ssh", "netns"]


@dataclass(frozen=True)
class HostSpec:
    """How to reach one inventory host (`hosts.<name>` in the inventory)."""

    name: str
    address: str | None = None
    transport: Transport = "ssh"
    user: str | None = None
    port: int | None = None
    identity: str | None = None
    jump: str | None = None
    # Not part of the hash: a dict is not hashable, and the name already identifies a host.
    options: Mapping[str, str] = field(default_factory=dict, hash=False)
    netns: str | None = None
    sudo: bool = False
    root: str = "/"
    known_hosts: str | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    server_alive_interval: float = DEFAULT_SERVER_ALIVE_INTERVAL
    # Only an explicit per-host allowance lets ssh options weaken host key checking.
    allow_unsafe_options: bool = False


def jump_target(jump: str, hosts: Mapping[str, HostSpec] | None = None) -> str:
    """The `ssh -J` argument for a jump host.

    When `jump` names another inventory host reached over ssh, that host's
    `user@address:port` is used; otherwise `jump` goes to ssh as written, so an
    alias from ~/.ssh/config or `user@host:port` works too.
    """
    spec = (hosts or {}).get(jump)
    if spec is None or spec.transport != "ssh" or not spec.address:
        return jump
    address = f"[{spec.address}]" if ":" in spec.address else spec.address
    target = f"{spec.user}@{address}" if spec.user else address
    return f"{target}:{spec.port}" if spec.port else target


def connect(spec: HostSpec, *, control_dir: str | None = None,
            hosts: Mapping[str, HostSpec] | None = None) -> Host:
    """The Host for a spec. Nothing is contacted yet: the first command connects.

    `control_dir` is where ssh keeps its control socket (a private temp dir by default).
    `hosts` (the inventory's other hosts) lets `jump` name an inventory host.
    Raises InputError when the spec lacks what its transport needs (address for ssh,
    netns for netns) or names an unknown transport.
    """
    if spec.transport == "local":
        return LocalHost(spec.name, sudo=spec.sudo)
    if spec.transport == "netns":
        if not spec.netns:
            raise InputError(f"hosts.{spec.name}.netns: required for transport netns")
        return NetnsHost(spec.name, spec.netns, sudo=spec.sudo)
    if spec.transport == "ssh":
        if not spec.address:
            raise InputError(f"hosts.{spec.name}.address: required for transport ssh")
        return SshHost(spec.name, spec.address, user=spec.user, port=spec.port,
                       identity=spec.identity,
                       jump=jump_target(spec.jump, hosts) if spec.jump else None,
                       options=spec.options, known_hosts=spec.known_hosts,
                       connect_timeout=spec.connect_timeout,
                       server_alive_interval=spec.server_alive_interval,
                       allow_unsafe_options=spec.allow_unsafe_options,
                       sudo=spec.sudo, control_dir=control_dir)
    raise InputError(f"hosts.{spec.name}.transport: unknown transport {spec.transport!r} "
                     "(local, ssh or netns)")


def rooted(root: str | None, path: str) -> str:
    """Where the absolute `path` of a host's layout lives under its `root` prefix.

    `rooted("/srv/lab/new-ctl1", "/etc/keystone/keystone.conf")` is
    "/srv/lab/new-ctl1/etc/keystone/keystone.conf"; with root "/" the path is unchanged.
    `..` in `path` cannot climb above the root.

    Raises InputError when `path` or `root` is not absolute.
    """
    if not path.startswith("/"):
        raise InputError(f"path {path!r} must be absolute to be placed under a host root")
    # A leading "//" is kept by normpath (POSIX allows it a special meaning); not wanted here.
    clean = posixpath.normpath("/" + path.lstrip("/"))
    if root is None or root.strip("/") == "":
        return clean
    if not root.startswith("/"):
        raise InputError(f"host root {root!r} must be an absolute path")
    base = posixpath.normpath(root)
    return base if clean == "/" else base + clean
