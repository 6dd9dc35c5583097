"""Start, stop and report one lab service on one side (adapter).

This is what the generated inventory's `services:` commands call, through
`python -m sidebyside.cli.lab service start|stop|status --side old|new <service>`
(with `--controller old-ctl2` in a lab of several controllers per side; the side's
first controller by default). A service is one or more processes (`programs`): its
API, and for nova and neutron their RPC workers, each with its PID and log file; it
runs when all of them do. A service the lab installs database-only "runs" when its
databases do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from sidebyside.errors import InputError, StepFailed
from sidebyside.lab import broker, processes
from sidebyside.lab.layout import SIDES, Controller, LabLayout
from sidebyside.lab.programs import Program, service_programs
from sidebyside.lab.render import HEALTH_PATH
from sidebyside.lab.state import LabState, load_state, update_state

WORKER_READY_TIMEOUT = 180.0


@dataclass(frozen=True)
class ServiceStatus:
    side: str
    service: str
    address: str
    port: int
    pid: int | None
    listening: bool
    database_only: bool
    controller: str = ""

    @property
    def running(self) -> bool:
        return self.database_only or self.pid is not None

    def to_dict(self) -> dict[str, object]:
        return {"side": self.side, "controller": self.controller,
                "service": self.service, "address": self.address,
                "port": self.port, "pid": self.pid, "running": self.running,
                "listening": self.listening, "database_only": self.database_only}


def component(side: str, service: str) -> str:
    """The default lab's component name of a side's (only) service."""
    return f"{side}-{service}"


class LabServices:
    def __init__(self, layout: LabLayout, state: LabState) -> None:
        # The lab's topology is in its state: paths and addresses follow it.
        self.layout = replace(layout, topology=state.spec.topology)
        self.state = state

    @classmethod
    def open(cls, state_dir: Path) -> LabServices:
        """Raises InputError when there is no lab in state_dir."""
        layout = LabLayout(state_dir)
        state = load_state(layout)
        if state is None:
            raise InputError(f"{state_dir}: no lab here (no lab.json); run `sbs lab up`")
        return cls(layout, state)

    def controller(self, side: str, name: str | None = None) -> Controller:
        """Raises InputError for an unknown side or a controller not on that side."""
        if side not in SIDES:
            raise InputError(f"side must be old or new, not {side!r}")
        try:
            return self.state.spec.topology.controller(side, name)
        except ValueError as exc:
            raise InputError(f"--controller: {exc}") from None

    def _check(self, side: str, service: str, controller: str | None) -> Controller:
        node = self.controller(side, controller)
        if service not in self.state.spec.services:
            raise InputError(f"service {service!r} is not in this lab "
                             f"({', '.join(self.state.spec.services)})")
        return node

    def programs(self, node: Controller, service: str) -> tuple[Program, ...]:
        """The processes `service` runs on `node` (none when database-only)."""
        if service not in self.state.spec.served:
            return ()
        # the lab's stable link to the release's venv (there once `lab up` built it)
        venv = self.layout.venv_link(service, self.state.spec.side_release(node.side))
        base = node.component(service)
        return service_programs(
            service, venv=venv, etc=self.layout.etc(node.dir, service),
            address=node.address, port=self.layout.topology.port(service),
            pid_file=lambda suffix: self.layout.pid_file(
                f"{base}-{suffix}" if suffix else base),
            health_path=HEALTH_PATH[service], share=self.layout.dashboard_share(node.dir),
            static=self.layout.dashboard_static(node.dir))

    def running_pids(self, node: Controller, service: str) -> set[int]:
        """The PIDs of its programs that run."""
        base = node.component(service)
        return {pid for program in self.programs(node, service)
                if (pid := processes.running_pid(self.layout.pid_file(program.component(base))))}

    def any_running(self, node: Controller, service: str) -> bool:
        base = node.component(service)
        return any(processes.running_pid(self.layout.pid_file(program.component(base)))
                   for program in self.programs(node, service))

    def status(self, side: str, service: str, controller: str | None = None) -> ServiceStatus:
        """Raises InputError (unknown side, controller or service). `pid` is the API's
        (the first program's), and None unless every program runs."""
        node = self._check(side, service, controller)
        port = self.layout.topology.port(service)
        base = node.component(service)
        pids = [processes.running_pid(self.layout.pid_file(program.component(base)))
                for program in self.programs(node, service)]
        pid = pids[0] if pids and all(p is not None for p in pids) else None
        return ServiceStatus(side, service, node.address, port, pid,
                             processes.port_open(node.address, port),
                             database_only=service not in self.state.spec.served,
                             controller=node.name)

    def start(self, side: str, service: str, controller: str | None = None, *,
              remember: bool = True) -> ServiceStatus:
        """Start every program of it that is not running; wait until each is ready (the
        API answers, a worker consumes its queue). Raises InputError, StepFailed (one
        exited during start-up, e.g. its address is taken, or never got ready)."""
        current = self.status(side, service, controller)
        node = self.controller(side, controller)
        if remember:
            self._remember(node, service, True)
        if current.database_only or current.pid is not None:
            return current
        root = self.layout.root(node.dir)
        (root / "var" / "log" / service).mkdir(parents=True, exist_ok=True)
        base = node.component(service)
        waiting = []
        for program in self.programs(node, service):
            name = program.component(base)
            pid_file, log_file = self.layout.pid_file(name), self.layout.log_file(name)
            pid = processes.running_pid(pid_file)
            if pid is None:
                pid = processes.start_detached(list(program.argv), pid_file=pid_file,
                                               log_file=log_file, env=program.env, cwd=root)
            waiting.append((program, name, pid, log_file))
        for program, name, pid, log_file in waiting:
            if program.health_path is not None:
                processes.wait_http_ok(
                    f"http://{node.address}:{self.layout.topology.port(service)}"
                    f"{program.health_path}", what=name, pid=pid, log_file=log_file)
            elif program.queue is not None:
                wait_consuming(broker.vhost(self.layout, side), program.queue, what=name,
                               pid=pid, log_file=log_file)
        return self.status(side, service, controller)

    def stop(self, side: str, service: str, controller: str | None = None, *,
             remember: bool = True) -> ServiceStatus:
        """Stop every program by its recorded PID, workers first. Raises InputError,
        StepFailed (one will not die)."""
        self._check(side, service, controller)
        node = self.controller(side, controller)
        if remember:
            self._remember(node, service, False)
        base = node.component(service)
        for program in reversed(self.programs(node, service)):
            pid_file = self.layout.pid_file(program.component(base))
            pid = processes.running_pid(pid_file)
            if pid is not None:
                processes.stop_pid(pid, what=program.component(base))
            pid_file.unlink(missing_ok=True)
        return self.status(side, service, controller)

    def _remember(self, node: Controller, service: str, running: bool) -> None:
        # Keyed by the controller's dir: "old"/"new" in the default lab, as before.
        self.state.want(node.dir, service, running)
        self.state.wanted = update_state(
            self.layout, lambda state: state.want(node.dir, service, running)).wanted


def wait_consuming(vhost_name: str, queue: str, *, what: str, pid: int,
                   log_file: Path, timeout: float = WORKER_READY_TIMEOUT) -> None:
    """Until process `pid` (or a worker it forked) consumes `queue` (or a queue
    `queue.<host>`) on the vhost.
    Raises StepFailed when it exits first or the time runs out (its log's tail in
    the message)."""
    deadline = time.monotonic() + timeout
    while True:
        if not processes.pid_alive(pid):
            raise StepFailed(f"lab-start-{what}", f"{what} exited during start-up:\n"
                             f"{processes.log_tail(log_file)}")
        workers = processes.family(pid)
        if any(c.pid in workers and (c.queue == queue or c.queue.startswith(f"{queue}."))
               for c in broker.consumers(vhost_name)):
            return
        if time.monotonic() > deadline:
            raise StepFailed(f"lab-start-{what}", f"{what} did not consume {queue!r} on "
                             f"vhost {vhost_name} within {timeout:.0f} s:\n"
                             f"{processes.log_tail(log_file)}")
        time.sleep(1.0)
