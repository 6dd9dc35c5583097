"""Start, stop and report one lab service on one side (adapter).

This is what the generated inventory's `services:` commands call, through
`python -m sidebyside.cli.lab service start|stop|status --side old|new <service>`.
Keystone runs in our small WSGI server (keystone >= 2026.1 has no
`keystone-wsgi-public`), glance in its own `glance-api`; nova is database-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sidebyside.errors import InputError
from sidebyside.lab import processes
from sidebyside.lab.layout import SERVED_SERVICES, SERVICE_PORT, SIDE_ADDRESS, SIDES, LabLayout
from sidebyside.lab.render import HEALTH_PATH
from sidebyside.lab.state import LabState, load_state, save_state

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

    @property
    def running(self) -> bool:
        return self.database_only or self.pid is not None

    def to_dict(self) -> dict[str, object]:
        return {"side": self.side, "service": self.service, "address": self.address,
                "port": self.port, "pid": self.pid, "running": self.running,
                "listening": self.listening, "database_only": self.database_only}


def component(side: str, service: str) -> str:
    return f"{side}-{service}"


class LabServices:
    def __init__(self, layout: LabLayout, state: LabState) -> None:
        self.layout = layout
        self.state = state

    @classmethod
    def open(cls, state_dir: Path) -> LabServices:
        """Raises InputError when there is no lab in state_dir."""
        layout = LabLayout(state_dir)
        state = load_state(layout)
        if state is None:
            raise InputError(f"{state_dir}: no lab here (no lab.json); run `sbs lab up`")
        return cls(layout, state)

    def _check(self, side: str, service: str) -> None:
        if side not in SIDES:
            raise InputError(f"side must be old or new, not {side!r}")
        if service not in self.state.spec.services:
            raise InputError(f"service {service!r} is not in this lab "
                             f"({', '.join(self.state.spec.services)})")

    def status(self, side: str, service: str) -> ServiceStatus:
        self._check(side, service)
        address, port = SIDE_ADDRESS[side], SERVICE_PORT[service]
        pid = processes.running_pid(self.layout.pid_file(component(side, service)))
        return ServiceStatus(side, service, address, port, pid,
                             processes.port_open(address, port),
                             database_only=service not in SERVED_SERVICES)

    def start(self, side: str, service: str, *, remember: bool = True) -> ServiceStatus:
        """Start it unless running; wait until it answers. Raises StepFailed."""
        current = self.status(side, service)
        if remember:
            self._remember(side, service, True)
        if current.database_only or current.pid is not None:
            return current
        name = component(side, service)
        pid_file, log_file = self.layout.pid_file(name), self.layout.log_file(name)
        (self.layout.root(side) / "var" / "log" / service).mkdir(parents=True, exist_ok=True)
        venv = self.state.venv(service, self.state.spec.side_release(side))
        address, port = SIDE_ADDRESS[side], SERVICE_PORT[service]
        etc = self.layout.etc(side, service)
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
                                       cwd=self.layout.root(side))
        processes.wait_http_ok(f"http://{address}:{port}{HEALTH_PATH[service]}",
                               what=name, pid=pid, log_file=log_file)
        return self.status(side, service)

    def stop(self, side: str, service: str, *, remember: bool = True) -> ServiceStatus:
        """Stop it by its recorded PID. Raises StepFailed when it will not die."""
        current = self.status(side, service)
        if remember:
            self._remember(side, service, False)
        if current.pid is not None:
            processes.stop_pid(current.pid, what=component(side, service))
        self.layout.pid_file(component(side, service)).unlink(missing_ok=True)
        return self.status(side, service)

    def _remember(self, side: str, service: str, running: bool) -> None:
        self.state.want(side, service, running)
        save_state(self.layout, self.state)
