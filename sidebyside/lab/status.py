"""`sbs lab status`: what runs in the lab, component by component."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sidebyside.lab import compute, processes
from sidebyside.lab.layout import COMPUTE_NODES, SIDES, LabLayout
from sidebyside.lab.services import LabServices
from sidebyside.lab.state import LabState, bound, require_state


def lab_status(state_dir: Path) -> list[dict[str, Any]]:
    """Every component: side, running, address, port, pid, resident memory (MiB, its
    forked workers included). Raises InputError (no lab)."""
    layout = LabLayout(state_dir.resolve())
    state = require_state(layout)
    layout = bound(layout, state)
    rows: list[dict[str, Any]] = []
    for side in SIDES:
        rows += _side_rows(layout, state, side)
    return rows + _balancer_rows(layout, state)


def _side_rows(layout: LabLayout, state: LabState, side: str) -> list[dict[str, Any]]:
    """The side's MariaDB, then each of its controllers' services."""
    topology = layout.topology
    pid = processes.running_pid(layout.pid_file(f"{side}-mariadb"))
    address = topology.db_address(side)
    rows: list[dict[str, Any]] = [{
        "component": f"{side}-mariadb", "side": side, "address": address,
        "port": topology.db_port, "pid": pid, "running": pid is not None,
        "listening": processes.port_open(address, topology.db_port),
        "rss_mib": processes.resident_mib({pid} if pid else set())}]
    services = LabServices(layout, state)
    for controller in topology.side_controllers(side):
        for service in state.spec.services:
            status = services.status(side, service, controller.name)
            row = status.to_dict()
            row["component"] = controller.component(service)
            row["rss_mib"] = processes.resident_mib(services.running_pids(controller, service))
            if status.database_only:  # it "runs" when its databases do
                row["running"] = pid is not None
            rows.append(row)
    if side == "old" and state.spec.has_compute:
        for node in COMPUTE_NODES:
            compute_pid = compute.running_pid(layout, node)
            rows.append({"component": node.component, "side": side, "address": "-",
                         "port": "-", "pid": compute_pid, "running": compute_pid is not None,
                         "listening": False, "release": state.compute_release(node.dir),
                         "rss_mib": processes.resident_mib({compute_pid} if compute_pid
                                                           else set())})
    return rows


def _balancer_rows(layout: LabLayout, state: LabState) -> list[dict[str, Any]]:
    topology = layout.topology
    rows = []
    for node in topology.balancers:
        pid = processes.running_pid(layout.pid_file(node.component))
        rows.append({"component": node.component, "side": "", "address": node.address,
                     "port": ",".join(str(topology.port(s)) for s in state.spec.services),
                     "pid": pid, "running": pid is not None,
                     "listening": any(processes.port_open(node.address, topology.port(s))
                                      for s in state.spec.served),
                     "rss_mib": processes.resident_mib({pid} if pid else set())})
    return rows


def memory_by_side(rows: list[dict[str, Any]]) -> dict[str, float]:
    """side -> resident MiB of its running components (HAProxy under ""). Pure."""
    totals: dict[str, float] = {}
    for row in rows:
        totals[row["side"]] = round(totals.get(row["side"], 0.0) + row["rss_mib"], 1)
    return totals
