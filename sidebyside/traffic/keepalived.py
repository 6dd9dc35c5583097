"""Move the VIP between the old and new keepalived nodes, and see who holds it.

Two ways, both without a reload:
- track file (default): keepalived adds the integer in the `vrrp_track_file` (times its
  weight, 1 in ha/keepalived.conf.j2) to the node's priority. The side that should
  hold the VIP gets 0, the other side `-penalty`, so it loses the next election
  (measured: 2.7 s, no failed probe). Both sides keep running: moving back is
  the same write.
- stop: stop keepalived on the side that should lose the VIP (measured: 0.46 s of
  outage after a SIGTERM of the master); that side then has no standby, and a
  restart within about 1 s of the stop fails.

Who holds the VIP is read with `ip -o addr show` on each node.
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sidebyside.inventory import KeepalivedModel
from sidebyside.remote.base import Host
from sidebyside.traffic.errors import TrafficNotSettled
from sidebyside.traffic.switch import Side, Waiter

Method = Literal["track_file", "stop"]


def holds_address(ip_addr_output: str, vip: str) -> bool:
    """Pure: does `ip -o addr show` output list `vip` (with or without prefix)?"""
    wanted = ipaddress.ip_address(vip.split("/")[0])
    for line in ip_addr_output.splitlines():
        words = line.split()
        for family in ("inet", "inet6"):
            if family in words:
                position = words.index(family) + 1
                if position < len(words):
                    try:
                        if ipaddress.ip_interface(words[position]).ip == wanted:
                            return True
                    except ValueError:
                        continue
    return False


def track_file_values(side: Side, penalty: int) -> dict[Side, str]:
    """Pure: what each side's track file gets so that `side` wins the election."""
    if not 1 <= penalty <= 254:
        raise ValueError(f"penalty {penalty} outside 1..254")
    other: Side = "new" if side == "old" else "old"
    return {side: "0\n", other: f"-{penalty}\n"}


@dataclass
class KeepalivedControl:
    """The keepalived nodes of both sides (inventory names -> Hosts)."""

    vip: str
    nodes: Mapping[Side, Mapping[str, Host]]
    wait: Waiter
    track_files: Mapping[str, str] = field(default_factory=dict)  # node -> its track file
    penalty: int = 100          # must exceed the base priority gap between the sides
    stop_command: Sequence[str] = ("systemctl", "stop", "keepalived")
    timeout: float = 30.0
    interval: float = 0.25
    log: Callable[[str], None] = field(default=lambda line: None)

    @classmethod
    def from_inventory(cls, model: KeepalivedModel, hosts: Callable[[str], Host], *,
                       wait: Waiter, path: Callable[[str, str], str] | None = None,
                       **options: Any) -> KeepalivedControl:
        """`path` places an absolute path under a host's root (`Hosts.path`). Raises
        InputError for a host the inventory does not define."""
        names = [*model.old, *model.new]
        track_files = ({name: path(name, model.track_file) if path else model.track_file
                        for name in names} if model.track_file else {})
        return cls(vip=model.vip, track_files=track_files, wait=wait,
                   nodes={"old": {name: hosts(name) for name in model.old},
                          "new": {name: hosts(name) for name in model.new}}, **options)

    def holders(self) -> list[str]:
        """Names of the nodes that have the VIP now. Raises RemoteError."""
        found = []
        for side in ("old", "new"):
            for name, host in self.nodes[side].items():  # type: ignore[index]
                output = host.run(["ip", "-o", "addr", "show"], timeout=30).stdout
                if holds_address(output, self.vip):
                    found.append(name)
        return found

    def holder_side(self) -> Side | None:
        """The side whose node alone holds the VIP; None if nobody or both do."""
        holders = self.holders()
        if len(holders) != 1:
            return None
        return "old" if holders[0] in self.nodes["old"] else "new"

    def move_vip(self, to: Side, *, method: Method = "track_file") -> dict[str, Any]:
        """Move the VIP to a node of side `to` and wait (bounded) until exactly that
        side holds it. Idempotent. Raises InputError (track_file method without a track
        file), RemoteError, TrafficNotSettled naming who holds the VIP at the timeout."""
        from sidebyside.errors import InputError

        other: Side = "new" if to == "old" else "old"
        if method == "track_file":
            values = track_file_values(to, self.penalty)
            for side in (to, other):  # raise the winner first: never two losers
                for name, host in self.nodes[side].items():
                    track_file = self.track_files.get(name)
                    if not track_file:
                        raise InputError(f"keepalived node {name}: no track file "
                                         "(ha.keepalived.track_file) to move the VIP by "
                                         "priority; use the stop method")
                    host.put_file(track_file, values[side].encode(), mode=0o644)
                    self.log(f"keepalived: {name} ({side}) track file {track_file} "
                             f"= {values[side].strip()}")
        else:
            for name, host in self.nodes[other].items():
                host.run(list(self.stop_command), timeout=60)
                self.log(f"keepalived: stopped on {name} ({other}): "
                         f"{shlex.join(self.stop_command)}")
        done, holders = self.wait(
            self.holders,
            lambda names: len(names) == 1 and names[0] in self.nodes[to],
            timeout=self.timeout, interval=self.interval,
            waiting_for=lambda names: f"VIP {self.vip} held by "
                                      f"{', '.join(names) or 'nobody'}; want a {to} node",
            on_wait=self.log)
        if not done:
            raise TrafficNotSettled(
                f"VIP {self.vip} did not move to the {to} side within {self.timeout:.0f}s: "
                f"held by {', '.join(holders) or 'nobody'}",
                hint="check keepalived's log on both sides (priorities, preempt, "
                     "track file weight)")
        self.log(f"keepalived: VIP {self.vip} held by {holders[0]} ({to})")
        return {"vip": self.vip, "holder": holders[0], "side": to, "method": method}
