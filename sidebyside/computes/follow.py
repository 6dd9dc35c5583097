"""A compute node follows the control plane to another bus: its configs' transport URLs
moved, its services restarted, and it counts as moved only once the control plane it
moved to has a heartbeat from it after the restart. Effects come in (a Host, the
registration reader, the clock), so the order is testable without a cloud.

The one procedure, for each node of a batch:

    1. every config of the node: the transport URLs of the source bus moved to the
       target's (config.translate.follow_bus), the file's owner, group and mode kept;
       the first time (cutover) the file as it was is kept beside it, `<file>.sbs-old`
    2. each of its services stopped, then started (instances keep running: stopping
       nova-compute does not stop the guests)
    3. the target control plane's last heartbeat of the node (os-services) read before
       the restart must change, with the service up, within `register_timeout`; else
       the step fails and the cutover rolls back before writes reopen
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sidebyside.cloud.compute_services import ComputeService
from sidebyside.config.collect import parse_find_output
from sidebyside.config.translate import BusMove, follow_bus
from sidebyside.errors import InputError, VerificationError
from sidebyside.remote.base import Host
from sidebyside.remote.factory import rooted

KEPT_SUFFIX = ".sbs-old"
_FIND_FORMAT = "%y\\t%u\\t%g\\t%m\\t%s\\t%p\\n"


@dataclass
class NodeMoved:
    """What following the bus did on one node (the journal's record: no values)."""

    node: str
    moved: list[str] = field(default_factory=list)      # "<path> [section] key"
    restarted: list[str] = field(default_factory=list)
    heartbeat: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"node": self.node, "moved": self.moved, "restarted": self.restarted,
                "heartbeat": self.heartbeat}


def file_attributes(host: Host, target: str, root: str) -> tuple[int, str, str]:
    """(mode, owner, group) of the file `target` on `host` (a rewrite keeps them)."""
    _kind, owner, group, mode, _size, _path = parse_find_output(
        host.run(["find", "-L", target, "-maxdepth", "0", "-printf", _FIND_FORMAT]).stdout,
        root)[0]
    return mode, owner, group


def move_configs(host: Host, root: str, configs: list[str], bus: BusMove, *,
                 keep_original: bool) -> list[str]:
    """Step 1 on one node. Returns `<path> [section] key` for each URL moved. Raises
    InputError when a config is missing (the inventory names a file the node lacks)."""
    moved: list[str] = []
    for path in configs:
        target = rooted(root, path)
        if not host.exists(target):
            raise InputError(f"{host.name}: {path} does not exist (computes.nodes."
                             f"{host.name}.configs)")
        data = host.read_file(target)
        changed, keys = follow_bus(data, bus, path=path)
        if not keys:
            continue
        mode, owner, group = file_attributes(host, target, root)
        kept = target + KEPT_SUFFIX
        if keep_original and not host.exists(kept):
            host.put_file(kept, data, mode=mode, owner=owner, group=group)
        host.put_file(target, changed, mode=mode, owner=owner, group=group)
        moved += [f"{path} {key}" for key in keys]
    return moved


def wait_registered(read: Callable[[], ComputeService | None], before: str | None, *,
                    node: str, timeout: float, clock: Callable[[], float] = time.monotonic,
                    sleep: Callable[[float], None] = time.sleep, interval: float = 2.0,
                    also: Callable[[], str | None] | None = None,
                    where: str = "the control plane it moved to") -> ComputeService:
    """Step 3: the node's service as the target control plane has it, once up with a
    heartbeat other than `before` (and, with `also`, once that says nothing is missing:
    it returns what is, or None). Raises VerificationError after `timeout` seconds,
    saying what was last seen."""
    deadline = clock() + timeout
    last: ComputeService | None = None
    while True:
        try:
            last = read()
            missing = also() if also is not None and last is not None else None
        except Exception as exc:  # noqa: BLE001 - an API not answering yet is retried
            seen = f"the API did not answer ({type(exc).__name__})"
        else:
            if last is not None and last.up and last.updated_at != before and missing is None:
                return last
            seen = ("not registered" if last is None else
                    f"state {last.state}, last heartbeat {last.updated_at or 'never'}"
                    + (" (from before the restart)" if last.updated_at == before else "")
                    + (f"; {missing}" if missing else ""))
        if clock() >= deadline:
            raise VerificationError(f"compute {node} did not register with {where} within "
                                    f"{timeout:.0f}s: {seen}")
        sleep(interval)
