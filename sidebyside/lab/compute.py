"""The lab's compute nodes (COMPUTE_NODES): nova-compute with nova's fake virt driver
(adapter). Each has its root `<state>/<node>/` (its own machine id and nova.conf); none
is a controller: the inventory names them under `computes` (host `<node>`, its root),
stopped and started by `sbs lab compute stop|start --node <node>`. They run the old
release through the cutover, as production computes do until they are upgraded; sbs
moves their transport URL to the side that serves, so each runs on whichever vhost its
nova.conf names. `sbs lab compute upgrade` is the lab's package upgrade of one node
(the new release's code, its configuration kept): what the lab's compute playbook runs
for `sbs computes upgrade`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from sidebyside.config.ini import Document
from sidebyside.errors import InputError
from sidebyside.lab import processes
from sidebyside.lab.layout import ComputeNode, LabLayout
from sidebyside.lab.programs import compute_program
from sidebyside.lab.state import LabState, update_state


def conf_path(layout: LabLayout, node: ComputeNode) -> Path:
    return layout.etc(node.dir, "nova") / "nova.conf"


def configured_vhost(layout: LabLayout, node: ComputeNode) -> str:
    """The vhost the node's nova.conf names (`[DEFAULT] transport_url`): the old
    side's until sbs moves it."""
    path = conf_path(layout, node)
    document = Document.parse(path.read_bytes(), path=str(path))
    url = document.get_one("DEFAULT", "transport_url") or ""
    return unquote(urlsplit(url).path.lstrip("/")) or "/"


def running_pid(layout: LabLayout, node: ComputeNode) -> int | None:
    return processes.running_pid(layout.pid_file(node.component))


def start(layout: LabLayout, state: LabState, node: ComputeNode) -> int:
    """Start it unless running, with the release it runs; wait until it consumes its
    queue on the vhost its nova.conf names. Returns its PID. Raises StepFailed."""
    from sidebyside.lab.services import wait_consuming

    pid = running_pid(layout, node)
    if pid is not None:
        return pid
    venv = state.venv("nova", state.compute_release(node.dir))
    program = compute_program(venv, conf_path(layout, node))
    pid_file, log_file = layout.pid_file(node.component), layout.log_file(node.component)
    pid = processes.start_detached(list(program.argv), pid_file=pid_file,
                                   log_file=log_file, env=program.env,
                                   cwd=layout.root(node.dir))
    assert program.queue is not None
    wait_consuming(configured_vhost(layout, node), program.queue, what=node.component,
                   pid=pid, log_file=log_file)
    return pid


def stop(layout: LabLayout, node: ComputeNode) -> bool:
    """Stop it by its recorded PID; whether it ran. Raises StepFailed."""
    pid = running_pid(layout, node)
    if pid is not None:
        processes.stop_pid(pid, what=node.component)
    layout.pid_file(node.component).unlink(missing_ok=True)
    return pid is not None


def upgrade(layout: LabLayout, node: ComputeNode, release: str) -> str:
    """The node's nova moved to `release` (the lab's venv of it), its configuration kept,
    as a package upgrade does; it must be stopped (sbs stops it first), and runs the new
    code from its next start. Returns the release it ran. Raises InputError (running,
    or a release the lab has no nova venv of)."""
    if running_pid(layout, node) is not None:
        raise InputError(f"{node.component} runs: stop it before upgrading it")
    before: list[str] = []

    def move(state: LabState) -> None:  # read and written under one lock
        state.venv("nova", release)  # the lab built it (InputError otherwise)
        before.append(state.compute_release(node.dir))
        state.compute_releases[node.dir] = release

    update_state(layout, move)
    return before[0]
