"""The lab's HAProxy nodes: started by `lab up`, driven through the production runtime
client (`traffic.haproxy.HaproxyNode` over the node's local admin socket)."""

from __future__ import annotations

import logging
import shutil

from sidebyside.errors import InputError
from sidebyside.lab import processes, render
from sidebyside.lab.files import write_file
from sidebyside.lab.layout import Balancer, LabLayout, Topology, backend_name
from sidebyside.remote.local import LocalHost
from sidebyside.traffic.errors import HaproxyCommandRejected, HaproxyUnreachable
from sidebyside.traffic.fleet import HaproxyFleet
from sidebyside.traffic.haproxy import HaproxyNode

log = logging.getLogger(__name__)


def node(layout: LabLayout, balancer: Balancer) -> HaproxyNode:
    """The runtime API of one lab HAProxy node, through its admin socket."""
    return HaproxyNode.on_host(LocalHost(balancer.name), str(layout.haproxy_socket_of(balancer)))


def fleet(layout: LabLayout) -> HaproxyFleet:
    """Every HAProxy node of the lab, each with its server-state file."""
    balancers = layout.topology.balancers
    return HaproxyFleet([node(layout, b) for b in balancers],
                        state_files={b.name: str(layout.haproxy_state_file_of(b))
                                     for b in balancers})


def running(layout: LabLayout, balancer: Balancer) -> bool:
    return processes.running_pid(layout.pid_file(balancer.component)) is not None


def start(layout: LabLayout, services: tuple[str, ...], balancer: Balancer, *,
          served: tuple[str, ...] | None = None) -> None:
    """Write the node's haproxy.cfg and start it as a daemon. Raises InputError (no
    haproxy installed), StepFailed (it refused to start)."""
    cfg = layout.haproxy_cfg_of(balancer)
    write_file(cfg, render.haproxy_cfg(layout, services, balancer, served=served), mode=0o644)
    layout.haproxy_state_file_of(balancer).touch(exist_ok=True)
    layout.haproxy_write_freeze_map_of(balancer).touch(exist_ok=True)
    layout.haproxy_socket_of(balancer).unlink(missing_ok=True)
    processes.run_tool([_haproxy_binary(), "-f", str(cfg), "-D", "-p",
              str(layout.pid_file(balancer.component))],
                       what=f"{balancer.component}-start")


def serve_old_side(layout: LabLayout, services: tuple[str, ...]) -> None:
    """On every node: the old controllers ready, the new ones in maintenance, writes
    open (no backend in the write-freeze map, the map file empty). Raises
    HaproxyUnreachable, HaproxyCommandRejected."""
    topology: Topology = layout.topology
    old = [c.name for c in topology.side_controllers("old")]
    new = [c.name for c in topology.side_controllers("new")]
    lab_fleet = fleet(layout)
    for service in services:
        lab_fleet.set_state(backend_name(service), old, "ready")
        lab_fleet.set_state(backend_name(service), new, "maint")
    for balancer, runtime in zip(topology.balancers, lab_fleet.nodes, strict=True):
        freeze_map = str(layout.haproxy_write_freeze_map_of(balancer))
        for service in services:
            runtime.delete_map_entry(freeze_map, backend_name(service))
        write_file(layout.haproxy_write_freeze_map_of(balancer), "", mode=0o644)


def save_server_state(layout: LabLayout, balancer: Balancer) -> None:
    """Keep which servers are enabled (after a cutover: the new ones) across
    `lab down`/`lab up`: HAProxy loads the file on start (load-server-state-from-file).
    A node that does not answer is only logged: `down` stops it all the same."""
    try:
        node(layout, balancer).save_state(str(layout.haproxy_state_file_of(balancer)))
    except (HaproxyUnreachable, HaproxyCommandRejected) as exc:
        log.warning("could not save %s's server state: %s", balancer.component, exc)


def _haproxy_binary() -> str:
    """Raises InputError when haproxy is not installed."""
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
    if not found:
        raise InputError("haproxy is not installed (apt-get install haproxy)")
    return found
