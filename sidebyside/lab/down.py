"""`sbs lab down`: stop every process the lab started, by its recorded PID."""

from __future__ import annotations

import shutil
from pathlib import Path

from sidebyside.lab import balancers, broker, compute, processes
from sidebyside.lab.databases import side_server
from sidebyside.lab.layout import COMPUTE_NODES, SIDES, LabLayout
from sidebyside.lab.services import LabServices
from sidebyside.lab.state import LabState, bound, load_state, one_lab_command


def down(state_dir: Path, *, purge: bool = False) -> list[str]:
    """Stop the compute nodes, the services, the HAProxy nodes (their server state saved
    first: a cutover survives `down`/`up`) and both MariaDBs; with purge, delete the
    lab's vhosts and user on the broker and the state directory too. Returns what was
    stopped. Raises LockedError, StepFailed (a process survived SIGKILL)."""
    layout = LabLayout(state_dir.resolve())
    stopped: list[str] = []
    if not layout.state_dir.is_dir():
        return stopped
    with one_lab_command(layout):
        state = load_state(layout)
        if state is not None:
            layout = bound(layout, state)
            stopped += [node.component for node in COMPUTE_NODES
                        if compute.stop(layout, node)]
            stopped += _stop_services(layout, state)
        stopped += _stop_balancers(layout)
        stopped += [name for side in SIDES if (name := _stop_mariadb(layout, side))]
        if purge and state is not None and state.spec.uses_broker:
            broker.remove(layout)
    if purge and layout.state_dir.exists():
        shutil.rmtree(layout.state_dir)
    return stopped


def _stop_services(layout: LabLayout, state: LabState) -> list[str]:
    services = LabServices(layout, state)
    stopped = []
    for controller in state.spec.topology.all_controllers:
        for service in state.spec.served:
            if services.any_running(controller, service):
                services.stop(controller.side, service, controller.name, remember=False)
                stopped.append(controller.component(service))
    return stopped


def _stop_balancers(layout: LabLayout) -> list[str]:
    stopped = []
    for node in layout.topology.balancers:
        pid_file = layout.pid_file(node.component)
        pid = processes.running_pid(pid_file)
        if pid:
            balancers.save_server_state(layout, node)
            processes.stop_pid(pid, what=node.component)
            stopped.append(node.component)
        pid_file.unlink(missing_ok=True)
    return stopped


def _stop_mariadb(layout: LabLayout, side: str) -> str | None:
    """Stopped cleanly by the server itself when it answers, else by PID."""
    pid_file = layout.pid_file(f"{side}-mariadb")
    pid = processes.running_pid(pid_file)
    if layout.mariadb_dir(side).exists():
        server = side_server(layout, side)
        if server.is_running():
            server.stop()
            pid = pid or -1
    if pid and pid > 0 and processes.pid_alive(pid):  # stop() failed: by PID then
        processes.stop_pid(pid, what=f"{side}-mariadb")
    pid_file.unlink(missing_ok=True)
    return f"{side}-mariadb" if pid else None
