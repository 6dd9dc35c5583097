"""start_service / stop_service: systemd units, containers or operator commands.

Stopping the old side's services is the only thing sbs ever does to the old
controllers, and only at cutover; starting them again is rollback.
"""

from __future__ import annotations

import shlex
from typing import Any

from sidebyside.actions.context import ActionContext
from sidebyside.engine.executor import StepContext
from sidebyside.engine.per_host import DEFAULT_PARALLEL, run_on_hosts
from sidebyside.inventory import ServiceControl
from sidebyside.plan.model import Step

CONTAINER_RUNTIME = "docker"
# In an operator's stop/start/status command: the inventory name of the host it runs on
# (for commands that act on one host of several from one place, like the lab's).
HOST_PLACEHOLDER = "{host}"


def control_argvs(control: ServiceControl, verb: str,
                  host: str | None = None) -> list[list[str]]:
    """The commands that start or stop (verb) one service on one host. Pure.

    In stop/start/status commands, `{host}` becomes `host` (the inventory name of the
    host the command runs on); nothing else in them is interpreted.
    """
    if verb not in ("start", "stop", "status"):
        raise ValueError(verb)
    if control.units:
        if verb == "status":
            return [["systemctl", "is-active", "--quiet", *control.units]]
        return [["systemctl", verb, *control.units]]
    if control.containers:
        if verb == "status":
            # `inspect` exits 0 for a stopped container too: compare what it prints
            return [["sh", "-c", f"test \"$({CONTAINER_RUNTIME} inspect -f "
                     f"'{{{{.State.Running}}}}' {shlex.quote(c)})\" = true"]
                    for c in control.containers]
        return [[CONTAINER_RUNTIME, verb, *control.containers]]
    command = {"start": control.start, "stop": control.stop, "status": control.status}[verb]
    if not command:
        return []
    argv = shlex.split(command)
    if host is not None:
        argv = [word.replace(HOST_PLACEHOLDER, host) for word in argv]
    return [argv]


class ServiceAction:
    """start_service or stop_service (`verb`, below) on every controller of a side, in
    parallel.

    A step names one service (`service`), or several (`params.services`): those start
    together, on every host at once, where the window is counted in seconds (each
    service's start-up is mostly its own process importing itself); the journal then
    records each service on each host (`service@host`)."""

    verb: str

    def __init__(self, context: ActionContext) -> None:
        self.inventory = context.inventory
        self.hosts = context.hosts

    def _controls(self, step: Step) -> tuple[str, dict[str, ServiceControl]]:
        side = step.params["side"]
        names = [step.service] if step.service else list(step.params["services"])
        services = self.inventory.side(side).services
        return side, {name: services[name] for name in names}

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        side, controls = self._controls(step)
        several = step.service is None

        def on_host(item: str) -> dict[str, Any]:
            service, _, name = item.rpartition("@") if several else (step.service, "", item)
            assert service is not None
            host = self.hosts(name)
            for argv in control_argvs(controls[service], self.verb, name):
                result = host.run(argv, timeout=self.inventory.window.service_timeout,
                                  on_output=lambda line: ctx.log(f"{item}: {line}"))
                ctx.log(f"{item}: {' '.join(argv)} -> {result.returncode}")
            return {"verb": self.verb}

        items = [f"{svc}@{h}" for svc in controls for h in step.hosts] if several \
            else list(step.hosts)
        results = run_on_hosts(ctx, items, on_host,
                               max_parallel=max(DEFAULT_PARALLEL, len(items)))
        if several:
            return {"side": side, "services": list(controls), "hosts": list(step.hosts),
                    "done": sorted(results)}
        return {"side": side, "service": step.service, "hosts": sorted(results)}

    def verify(self, step: Step, ctx: StepContext) -> bool:
        """On resume: is every service already in the wanted state on every host?"""
        _, controls = self._controls(step)
        for control in controls.values():
            if not control_argvs(control, "status"):
                return False
            for name in step.hosts:
                running = all(self.hosts(name).run(argv, check=False, timeout=60).ok
                              for argv in control_argvs(control, "status", name))
                if running != (self.verb == "start"):
                    return False
        return True


class StartServiceAction(ServiceAction):
    """`start_service`."""

    verb = "start"


class StopServiceAction(ServiceAction):
    """`stop_service`."""

    verb = "stop"
