"""Start, stop and report one lab service on one side (adapter).

This is what the generated inventory's `services:` commands call, through
`python -m sidebyside.cli.lab service start|stop|status --side old|new <service>`
(with `--controller old-ctl2` in a lab of several controllers per side; the side's
first controller by default).
Keystone runs in our small WSGI server (keystone >= 2026.1 has no
`keystone-wsgi-public`), glance in its own `glance-api`; nova is database-only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from sidebyside.errors import InputError
from sidebyside.lab import processes
from sidebyside.lab.layout import SERVED_SERVICES, SIDES, Controller, LabLayout
from sidebyside.lab.render import HEALTH_PATH
from sidebyside.lab.state import LabState, load_state, update_state

WSGI_SERVER = Path(__file__).with_name("wsgi_server.py")
KEYSTONE_APPS = ("keystone.wsgi.api:application",
                 "keystone.server.wsgi:initialize_public_application()")


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

    def status(self, side: str, service: str, controller: str | None = None) -> ServiceStatus:
        """Raises InputError (unknown side, controller or service)."""
        node = self._check(side, service, controller)
        port = self.layout.topology.port(service)
        pid = processes.running_pid(self.layout.pid_file(node.component(service)))
        return ServiceStatus(side, service, node.address, port, pid,
                             processes.port_open(node.address, port),
                             database_only=service not in SERVED_SERVICES,
                             controller=node.name)

    def start(self, side: str, service: str, controller: str | None = None, *,
              remember: bool = True) -> ServiceStatus:
        """Start it unless running; wait until it answers. Raises InputError, StepFailed
        (it exited during start-up, e.g. its address is taken, or never answered)."""
        current = self.status(side, service, controller)
        node = self.controller(side, controller)
        if remember:
            self._remember(node, service, True)
        if current.database_only or current.pid is not None:
            return current
        name = node.component(service)
        pid_file, log_file = self.layout.pid_file(name), self.layout.log_file(name)
        root = self.layout.root(node.dir)
        (root / "var" / "log" / service).mkdir(parents=True, exist_ok=True)
        venv = self.state.venv(service, self.state.spec.side_release(side))
        address, port = node.address, self.layout.topology.port(service)
        etc = self.layout.etc(node.dir, service)
        if service == "keystone":
            # --pid-file also puts the lab's state dir on the command line, so `ps`
            # tells which lab a server belongs to.
            argv = [str(venv / "bin" / "python"), str(WSGI_SERVER), "--host", address,
                    "--port", str(port), "--pid-file", str(pid_file)]
            for app in KEYSTONE_APPS:
                argv += ["--app", app]
            env = {"OS_KEYSTONE_CONFIG_DIR": str(etc),
                   "OS_KEYSTONE_CONFIG_FILES": "keystone.conf"}
        else:
            argv = [str(venv / "bin" / "glance-api"), "--config-file",
                    str(etc / "glance-api.conf")]
            env = {}
        pid = processes.start_detached(argv, pid_file=pid_file, log_file=log_file, env=env,
                                       cwd=root)
        processes.wait_http_ok(f"http://{address}:{port}{HEALTH_PATH[service]}",
                               what=name, pid=pid, log_file=log_file)
        return self.status(side, service, controller)

    def stop(self, side: str, service: str, controller: str | None = None, *,
             remember: bool = True) -> ServiceStatus:
        """Stop it by its recorded PID. Raises InputError, StepFailed (it will not die)."""
        current = self.status(side, service, controller)
        node = self.controller(side, controller)
        if remember:
            self._remember(node, service, False)
        if current.pid is not None:
            processes.stop_pid(current.pid, what=node.component(service))
        self.layout.pid_file(node.component(service)).unlink(missing_ok=True)
        return self.status(side, service, controller)

    def _remember(self, node: Controller, service: str, running: bool) -> None:
        # Keyed by the controller's dir: "old"/"new" in the default lab, as before.
        self.state.want(node.dir, service, running)
        self.state.wanted = update_state(
            self.layout, lambda state: state.want(node.dir, service, running)).wanted
