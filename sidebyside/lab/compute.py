"""The lab's compute node: nova-compute of the old release with nova's fake virt driver
(adapter). Its root is `<state>/compute1/` (its own machine id and nova.conf); it is
no controller: the inventory names it under `computes` (host `compute1`, its root),
stopped and started by `sbs lab compute stop|start`. It stays on the old release
through the cutover, as a production compute does until it is upgraded; sbs moves its
transport URL to the side that serves, so it runs on whichever vhost its nova.conf
names."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from sidebyside.config.ini import Document
from sidebyside.lab import processes
from sidebyside.lab.layout import COMPUTE_DIR, LabLayout
from sidebyside.lab.programs import compute_program
from sidebyside.lab.state import LabState

COMPONENT = f"{COMPUTE_DIR}-nova-compute"


def conf_path(layout: LabLayout) -> Path:
    return layout.etc(COMPUTE_DIR, "nova") / "nova.conf"


def configured_vhost(layout: LabLayout) -> str:
    """The vhost the compute's nova.conf names (`[DEFAULT] transport_url`): the old
    side's until sbs moves it."""
    document = Document.parse(conf_path(layout).read_bytes(), path=str(conf_path(layout)))
    url = document.get_one("DEFAULT", "transport_url") or ""
    return unquote(urlsplit(url).path.lstrip("/")) or "/"


def running_pid(layout: LabLayout) -> int | None:
    return processes.running_pid(layout.pid_file(COMPONENT))


def start(layout: LabLayout, state: LabState) -> int:
    """Start it unless running; wait until it consumes its queue on the vhost its
    nova.conf names. Returns its PID. Raises StepFailed."""
    from sidebyside.lab.services import wait_consuming

    pid = running_pid(layout)
    if pid is not None:
        return pid
    venv = Path(state.venvs["nova"][state.spec.from_release])
    program = compute_program(venv, conf_path(layout))
    root = layout.root(COMPUTE_DIR)
    pid_file, log_file = layout.pid_file(COMPONENT), layout.log_file(COMPONENT)
    pid = processes.start_detached(list(program.argv), pid_file=pid_file,
                                   log_file=log_file, env=program.env, cwd=root)
    assert program.queue is not None
    wait_consuming(configured_vhost(layout), program.queue, what=COMPONENT, pid=pid,
                   log_file=log_file)
    return pid


def stop(layout: LabLayout) -> bool:
    """Stop it by its recorded PID; whether it ran. Raises StepFailed."""
    pid = running_pid(layout)
    if pid is not None:
        processes.stop_pid(pid, what=COMPONENT)
    layout.pid_file(COMPONENT).unlink(missing_ok=True)
    return pid is not None
