"""`sbs lab up`: bring the lab up, step by step.

`up` is idempotent: every setup step is recorded in `<state>/lab.json` once done, so a
second `up` only starts what is not running (and reuses the cached venvs). Config
files are written once (see `configs`).

The order, as `LabSetup.run` reads: pre-flight (every address free), venvs installed
on each controller, both MariaDBs, service users and databases, config trees, clouds
and inventory, HAProxy, then the old side's services set up (`service_setup`) and
started, the new side's wanted services, the compute nodes, and the seed.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from sidebyside.db.mariadb_server import MariaDBServer
from sidebyside.errors import InputError, PreflightError, StepFailed
from sidebyside.lab import balancers, broker, compute, processes, render, service_setup
from sidebyside.lab.configs import write_compute_configs, write_side_configs
from sidebyside.lab.databases import create_service_databases, side_server
from sidebyside.lab.deploy_adapter import (
    LAB_COMPUTE_PLAYBOOK,
    LAB_PLAYBOOK,
    LabAnsibleHost,
    render_lab_inventory,
)
from sidebyside.lab.files import link, write_file
from sidebyside.lab.generated_secrets import ensure_secrets
from sidebyside.lab.install import link_release
from sidebyside.lab.layout import COMPUTE_NODES, SIDES, Controller, LabLayout
from sidebyside.lab.render import LabSpec
from sidebyside.lab.services import LabServices
from sidebyside.lab.state import LabState, bound, load_state, one_lab_command, save_state
from sidebyside.lab.venvs import Venv, ensure_venv
from sidebyside.redact import register_secret

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


@dataclass
class UpReport:
    venvs: list[Venv] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 1), "started": self.started,
                "steps": self.steps,
                "venvs": [{"service": v.service, "release": v.release, "path": str(v.path),
                           "built": v.built, "seconds": round(v.seconds, 1)}
                          for v in self.venvs]}


def up(state_dir: Path, spec: LabSpec, *, python: str, cache_root: Path,
       progress: Progress | None = None) -> UpReport:
    """Bring the lab in `state_dir` up (idempotent).

    Raises InputError (another lab's spec in this dir), LockedError (a concurrent
    `lab` command), PreflightError (addresses taken), StepFailed (a set-up step).
    """
    started = time.monotonic()
    report = UpReport()
    layout = LabLayout(state_dir.resolve())
    with one_lab_command(layout):
        state = load_state(layout)
        if state is None:
            # Every old controller serves; the new ones start empty and stopped.
            state = LabState(spec=spec, wanted={
                c.dir: list(spec.served) if c.side == "old" else []
                for c in spec.topology.all_controllers})
        elif state.spec != spec:
            raise InputError(
                f"{layout.state_dir} holds a lab of {_describe(state.spec)}, not "
                f"{_describe(spec)}", hint="run `sbs lab down --purge` first, or use "
                "another --state-dir")
        LabSetup(bound(layout, state), state, report, cache_root=cache_root,
                 progress=progress or (lambda message: log.info("%s", message))).run(python)
    report.seconds = time.monotonic() - started
    return report


def give_machine_id(root: Path) -> None:
    """`<root>/etc/machine-id`: a random id of its own for one lab controller, kept
    across `lab up` runs. The lab's controllers all run on this machine, and sbs
    proves old and new apart by the machine id under each host's root."""
    path = root / "etc" / "machine-id"
    if not path.exists():
        write_file(path, secrets.token_hex(16) + "\n", mode=0o644)


class LabSetup:
    """One `lab up` of one lab: its steps, each recorded in lab.json once done."""

    def __init__(self, layout: LabLayout, state: LabState, report: UpReport, *,
                 cache_root: Path, progress: Progress) -> None:
        self.layout = layout
        self.state = state
        self.report = report
        self.cache_root = cache_root
        self.progress = progress
        self._state_lock = threading.Lock()  # steps of two threads record into lab.json

    def run(self, python: str) -> None:
        """Raises PreflightError, StepFailed, InputError (see `up`)."""
        state, layout = self.state, self.layout
        servers = {side: side_server(layout, side) for side in SIDES}
        self._preflight(servers)
        save_state(layout, state)
        self._prepare_directories()
        passwords = ensure_secrets(layout)
        self._venvs()
        save_state(layout, state)
        if state.spec.uses_broker:
            self._step("broker", partial(broker.ensure, layout, passwords["rabbit"]))
        self._start_mariadbs(servers)
        self._databases_and_configs(servers, passwords)
        self._step("clouds-and-inventory",
                   partial(self._clouds_and_inventory, servers, python, passwords))
        self._start_balancers()
        self._set_up_old_services(passwords)
        # The new side's wanted services before the compute nodes: after a cutover the
        # nodes' nova.conf names the new bus, and nova-compute waits for a conductor
        # there before it consumes its queue.
        services = LabServices(layout, state)
        for service in state.spec.served:
            self._start_wanted(services, "new", service)
        if state.spec.has_compute:
            self._start_compute(passwords)
        self._step("old-seed", partial(service_setup.seed_old_cloud, layout, state, passwords))

    def _step(self, name: str, action: Callable[[], None]) -> None:
        if name in self.state.done:
            return
        self.progress(name)
        action()
        with self._state_lock:
            self.state.mark(name)
            save_state(self.layout, self.state)
            self.report.steps.append(name)

    def _preflight(self, servers: dict[str, MariaDBServer]) -> None:
        """Every address the lab will bind and does not hold yet must be free.

        Raises PreflightError naming the busy addresses (another lab, or a stray service).
        """
        busy = self._busy_databases(servers) + self._busy_balancers() + self._busy_services()
        if busy:
            raise PreflightError(
                f"lab {self.layout.state_dir}: addresses already in use by processes this "
                f"lab did not start: {', '.join(busy)}",
                hint="another lab may be running: `sbs lab status --state-dir <its dir>`, "
                     "then `sbs lab down` there")

    def _busy_databases(self, servers: dict[str, MariaDBServer]) -> list[str]:
        topology = self.state.spec.topology
        return [f"{topology.db_address(side)}:{topology.db_port} (MariaDB of {side})"
                for side, server in servers.items()
                if not server.is_running()
                and processes.port_open(topology.db_address(side), topology.db_port)]

    def _busy_balancers(self) -> list[str]:
        topology = self.state.spec.topology
        return [f"{node.address}:{topology.port(s)} (HAProxy {node.name})"
                for node in topology.balancers if not balancers.running(self.layout, node)
                for s in self.state.spec.services
                if processes.port_open(node.address, topology.port(s))]

    def _busy_services(self) -> list[str]:
        services = LabServices(self.layout, self.state)
        statuses = [(controller, services.status(controller.side, service, controller.name))
                    for controller in self.state.spec.topology.all_controllers
                    for service in self.state.spec.served]
        # a service whose start stopped half-way (its API up, a worker died) holds its
        # port with a process of this lab: the re-run starts the rest
        return [f"{status.address}:{status.port} ({controller.name} {status.service})"
                for controller, status in statuses
                if status.pid is None and status.listening
                and not services.any_running(controller, status.service)]

    def _prepare_directories(self) -> None:
        for directory in (self.layout.run_dir, self.layout.log_dir):
            directory.mkdir(parents=True, exist_ok=True)
        for controller in self.state.spec.topology.all_controllers:
            give_machine_id(self.layout.root(controller.dir))
        if self.state.spec.has_compute:
            for node in COMPUTE_NODES:
                give_machine_id(self.layout.root(node.dir))

    def _venvs(self) -> None:
        """Every release's venv built (or reused) once, then installed on each
        controller as the lab playbook installs it (`install.link_release`)."""
        spec, state, layout = self.state.spec, self.state, self.layout
        for service in spec.services:
            for release_name in spec.releases:
                venv = ensure_venv(service, release_name, self.cache_root)
                if venv.built:
                    self.progress(f"built venv {venv.path.name} in {venv.seconds:.1f} s")
                self.report.venvs.append(venv)
                state.venvs.setdefault(service, {})[release_name] = str(venv.path)
                link(layout.venv_link(service, release_name), venv.path)
        for controller in spec.topology.all_controllers:
            self._install_releases(controller)

    def _install_releases(self, controller: Controller) -> None:
        """`<root>/opt/openstack/<service>-<release>` for each release of its side;
        `<root>/usr/bin` holds its own release's tools, as packages do."""
        spec = self.state.spec
        tools_release = spec.side_release(controller.side)
        for service in spec.services:
            for release_name in render.side_releases(spec, controller.side):
                link_release(Path(self.state.venvs[service][release_name]), service,
                             release_name, self.layout.root(controller.dir),
                             link_tools=release_name == tools_release)

    def _start_mariadbs(self, servers: dict[str, MariaDBServer]) -> None:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for future in [pool.submit(self._start_mariadb, side, server)
                           for side, server in servers.items()]:
                future.result()

    def _start_mariadb(self, side: str, server: MariaDBServer) -> None:
        if not server.is_running():
            self.progress(f"starting MariaDB of the {side} controller")
            server.start(detach=True)
            with self._state_lock:
                self.report.started.append(f"{side}-mariadb")
        if server.pid is None:
            raise StepFailed(f"lab-start-{side}-mariadb",
                             f"MariaDB of the {side} controller runs without a pid file "
                             f"({server.pid_file})")
        processes.write_pid(self.layout.pid_file(f"{side}-mariadb"), server.pid)
        register_secret(server.root_password)

    def _databases_and_configs(self, servers: dict[str, MariaDBServer],
                               passwords: dict[str, str]) -> None:
        """Service users on both servers (as a deployment creates them); the databases
        themselves only on the old one: the new one holds no data before `sbs prepare`."""
        for side in SIDES:
            self._step(f"{side}-databases", partial(
                create_service_databases, servers[side], self.state.spec.services,
                passwords, with_databases=side == "old"))
            self._step(f"{side}-configs", partial(
                write_side_configs, self.layout, self.state, side, passwords))

    def _clouds_and_inventory(self, servers: dict[str, MariaDBServer], python: str,
                              passwords: dict[str, str]) -> None:
        layout, spec = self.layout, self.state.spec
        write_file(layout.clouds_yaml, yaml.safe_dump(
            render.clouds(passwords["admin"], spec.served, spec.topology), sort_keys=False),
            mode=0o600)
        inventory = render.inventory(
            layout, spec, python=python,
            db_password_files={side: Path(servers[side].password_file) for side in SIDES},
            deploy=self._deploy(python), compute_upgrade=self._compute_upgrade(python))
        write_file(layout.inventory, "# The sbs inventory of the lab, written by "
                   "`sbs lab up`.\n" + yaml.safe_dump(inventory, sort_keys=False), mode=0o644)

    def _deploy(self, python: str) -> dict[str, Any] | None:
        """`deploy.ansible` for the inventory: the lab's new-controller playbook, with
        an ansible inventory reaching the new controller locally (None without it)."""
        if not LAB_PLAYBOOK.is_file():
            return None
        layout = self.layout
        write_file(layout.ansible_inventory, render_lab_inventory([
            LabAnsibleHost(name=c.name, address=c.address, root=str(layout.root(c.dir)))
            for c in layout.topology.side_controllers("new")]), mode=0o644)
        return {"ansible": {"playbook": str(LAB_PLAYBOOK),
                            "inventory": str(layout.ansible_inventory), "limit": "new",
                            "extra_vars": {"sbs_python": python}}}

    def _compute_upgrade(self, python: str) -> dict[str, Any] | None:
        """`computes.upgrade.ansible` for the inventory: the lab's compute playbook, with
        an ansible inventory of the compute nodes (None without them)."""
        if not self.state.spec.has_compute or not LAB_COMPUTE_PLAYBOOK.is_file():
            return None
        layout = self.layout
        old = layout.topology.controller("old").address
        write_file(layout.ansible_computes_inventory, render_lab_inventory([
            LabAnsibleHost(name=node.dir, address=old, root=str(layout.root(node.dir)))
            for node in COMPUTE_NODES], group="computes"), mode=0o644)
        return {"ansible": {"playbook": str(LAB_COMPUTE_PLAYBOOK),
                            "inventory": str(layout.ansible_computes_inventory),
                            "extra_vars": {"sbs_python": python,
                                           "sbs_lab_state_dir": str(layout.state_dir)}},
                "timeout": "10m"}

    def _start_balancers(self) -> None:
        for balancer in self.state.spec.topology.balancers:
            if balancers.running(self.layout, balancer):
                continue
            self.progress("starting HAProxy" if not balancer.dir
                          else f"starting HAProxy {balancer.name}")
            balancers.start(self.layout, self.state.spec.services, balancer,
                            served=self.state.spec.served)
            self.report.started.append(balancer.component)

    def _set_up_old_services(self, passwords: dict[str, str]) -> None:
        """The database-only set-up (the schemas of glance, placement, neutron and
        nova, nova's cells) needs no keystone: it runs beside keystone's set-up, which
        is the long pole. Then each service is registered in keystone and started,
        placement and neutron before nova (its workers call both)."""
        layout, state, spec = self.layout, self.state, self.state.spec
        services = LabServices(layout, state)
        with ThreadPoolExecutor(max_workers=1) as pool:
            background = pool.submit(self._database_only_steps)
            if "keystone" in spec.services:
                self._step("old-keystone-setup",
                           partial(service_setup.keystone, layout, state, passwords))
                if spec.topology.controllers > 1:
                    self._step("old-keystone-keys",
                               partial(service_setup.share_keystone_keys, layout))
            self._start_wanted(services, "old", "keystone")
            for service in spec.served:
                if service not in ("keystone", "horizon"):  # horizon is in no catalog
                    # glance's step name is the one lab.json files already record
                    name = "old-glance-register" if service == "glance" \
                        else f"old-{service}-register"
                    self._step(name, partial(service_setup.register, layout, passwords,
                                             service))
            background.result()
        for service in spec.served:
            self._start_wanted(services, "old", service)

    def _database_only_steps(self) -> None:
        layout, state = self.layout, self.state
        steps = {"glance": service_setup.glance_db, "placement": service_setup.placement_db,
                 "neutron": service_setup.neutron_db, "cinder": service_setup.cinder_db,
                 "heat": service_setup.heat_db, "nova": service_setup.nova}
        for service, step in steps.items():
            if service in state.spec.services:
                name = "old-nova-setup" if service == "nova" else f"old-{service}-db"
                self._step(name, partial(step, layout, state))
        if "horizon" in state.spec.served:
            self._step("old-horizon-static",
                       partial(service_setup.horizon_static, layout, state, "old"))

    def _start_compute(self, passwords: dict[str, str]) -> None:
        """The compute nodes: their configs, each nova-compute started on the bus its
        nova.conf names (the old side's, until a cutover moves it), then mapped into
        cell1."""
        layout, state = self.layout, self.state
        self._step("compute-configs", partial(write_compute_configs, layout, state, passwords))
        for node in COMPUTE_NODES:
            if compute.running_pid(layout, node) is None:
                self.progress(f"starting compute node {node.dir}")
                compute.start(layout, state, node)
                self.report.started.append(node.component)
        self._step("old-nova-discover-hosts",
                   partial(service_setup.nova_discover_hosts, layout, state))

    def _start_wanted(self, services: LabServices, side: str, service: str) -> None:
        """Start `service` on every controller of `side` that should run it, in
        parallel (each waits until its server answers). Raises StepFailed."""
        state = self.state
        if service not in state.spec.served:
            return
        wanted = [c for c in state.spec.topology.side_controllers(side)
                  if service in state.wanted.get(c.dir, [])]
        with ThreadPoolExecutor(max_workers=max(1, len(wanted))) as pool:
            for future in [pool.submit(self._start, services, c, service) for c in wanted]:
                future.result()

    def _start(self, services: LabServices, controller: Controller, service: str) -> None:
        side, name = controller.side, controller.name
        if services.status(side, service, name).pid is None:
            self.progress(f"starting {side} {service}" if controller.dir == side
                          else f"starting {service} on {name}")
            services.start(side, service, name, remember=False)
            with self._state_lock:
                self.report.started.append(controller.component(service))


def _describe(spec: LabSpec) -> str:
    via = f" via {', '.join(spec.via)}" if spec.via else ""
    topology = spec.topology
    shape = "" if topology.controllers == topology.haproxy_nodes == 1 else (
        f", {topology.controllers} controllers a side, {topology.haproxy_nodes} HAProxy "
        f"nodes on {topology.address_base}.x")
    return (f"{spec.from_release} -> {spec.to_release}{via} "
            f"({', '.join(spec.services)}{shape})")
