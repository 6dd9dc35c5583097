"""Run commands inside a Linux network namespace on this machine.

The lab puts controllers and keepalived nodes in their own network namespaces.
A network namespace shares the mount namespace with the host, so files are read
and written exactly as on `LocalHost`; only commands are wrapped.
"""

from __future__ import annotations

from collections.abc import Sequence

from sidebyside.errors import InputError
from sidebyside.remote.local import LocalHost


def netns_argv(netns: str, argv: Sequence[str]) -> list[str]:
    """`ip netns exec <netns> argv...`. Raises InputError for an unusable namespace name."""
    if not netns or netns.startswith("-") or "/" in netns:
        raise InputError(f"network namespace name {netns!r} is not valid")
    return ["ip", "netns", "exec", netns, *argv]


class NetnsHost(LocalHost):
    """A network namespace on this machine (`ip netns exec`, which needs root or sudo)."""

    def __init__(self, name: str, netns: str, sudo: bool = False) -> None:
        super().__init__(name, sudo=sudo)
        netns_argv(netns, [])  # reject a bad name now, not at the first command
        self.netns = netns

    def _spawn(self, argv: Sequence[str], *, env: dict[str, str] | None,
               sudo: bool) -> tuple[list[str], dict[str, str] | None]:
        # `ip netns exec` execs the command with ip's own environment, so env passes through.
        return super()._spawn(netns_argv(self.netns, argv), env=env, sudo=sudo)

    def __repr__(self) -> str:
        return f"NetnsHost({self.name!r}, netns={self.netns!r})"
