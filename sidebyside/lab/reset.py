"""`sbs lab reset`: put the lab back as `lab up` left it after a run, to run `sbs
prepare` again on the same lab (`make demo`).

The new controllers stopped, their databases dropped, a plain deployed config tree
without keys; HAProxy through the production runtime client: the old servers ready,
the new ones in maintenance, writes open; the old controllers' services running.
"""

from __future__ import annotations

from pathlib import Path

from sidebyside.errors import InputError
from sidebyside.lab import balancers
from sidebyside.lab.configs import remove_side_configs, write_side_configs
from sidebyside.lab.databases import drop_service_databases, side_server
from sidebyside.lab.generated_secrets import ensure_secrets
from sidebyside.lab.layout import Controller, LabLayout
from sidebyside.lab.services import LabServices
from sidebyside.lab.state import LabState, bound, one_lab_command, require_state, save_state


def reset_new_side(state_dir: Path) -> list[str]:
    """Returns what was done. Raises InputError (no lab, or not up), LockedError,
    StepFailed, HaproxyUnreachable/HaproxyCommandRejected, UnreachableError."""
    layout = LabLayout(state_dir.resolve())
    with one_lab_command(layout):
        state = require_state(layout)
        layout = bound(layout, state)
        _require_up(layout)
        services = LabServices(layout, state)
        done = _stop_new_services(services, state)
        dropped = drop_service_databases(side_server(layout, "new"), state.spec.services)
        done += [f"dropped {database} on the new server" for database in dropped]
        remove_side_configs(layout, state, "new")
        write_side_configs(layout, state, "new", ensure_secrets(layout))
        done.append("new config tree re-deployed")
        balancers.serve_old_side(layout, state.spec.services)
        done.append("HAProxy: old servers ready, new ones in maintenance, writes open")
        done += _start_old_services(services, state)
        save_state(layout, state)
    return done


def _require_up(layout: LabLayout) -> None:
    """Raises InputError unless the new MariaDB and every HAProxy node run."""
    if not side_server(layout, "new").is_running() or not all(
            balancers.running(layout, node) for node in layout.topology.balancers):
        raise InputError(f"{layout.state_dir}: the lab is not up; run `sbs lab up`")


def _stop_new_services(services: LabServices, state: LabState) -> list[str]:
    done = []
    for controller in state.spec.topology.side_controllers("new"):
        for service in state.spec.served:
            if services.status("new", service, controller.name).pid is not None:
                services.stop("new", service, controller.name, remember=False)
                done.append(f"stopped {_on(controller, service)}")
            state.want(controller.dir, service, False)
    return done


def _start_old_services(services: LabServices, state: LabState) -> list[str]:
    done = []
    for controller in state.spec.topology.side_controllers("old"):
        for service in state.spec.served:
            state.want(controller.dir, service, True)
            if services.status("old", service, controller.name).pid is None:
                services.start("old", service, controller.name, remember=False)
                done.append(f"started {_on(controller, service)}")
    return done


def _on(controller: Controller, service: str) -> str:
    """`new keystone` in the default lab, `keystone on new-ctl2` with several a side."""
    if controller.dir == controller.side:
        return f"{controller.side} {service}"
    return f"{service} on {controller.name}"
