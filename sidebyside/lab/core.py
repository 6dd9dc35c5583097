"""`lab up`, `lab down`, `lab status`: the lab's core, step by step.

`up` is idempotent: every setup step is recorded in `<state>/lab.json` once done, so a
second `up` only starts what is not running (and reuses the cached venvs). Config
files are written once: after that they belong to whoever changes them (`sbs prepare`
translating the old ones onto the new controller).
"""

from __future__ import annotations

import fcntl
import getpass
import grp
import json
import logging
import os
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from sidebyside.errors import InputError, PreflightError, StepFailed
from sidebyside.lab import processes, render
from sidebyside.lab.layout import (
    SERVED_SERVICES,
    SIDES,
    Balancer,
    Controller,
    LabLayout,
    backend_name,
)
from sidebyside.lab.render import LabSpec
from sidebyside.lab.services import LabServices, ServiceStatus
from sidebyside.lab.state import LabState, load_state, save_state
from sidebyside.lab.venvs import Venv, ensure_venv
from sidebyside.redact import redact, register_secret

log = logging.getLogger(__name__)
Progress = Callable[[str], None]

SECRET_NAMES = ("admin", "keystone-db", "glance-db", "nova-db", "placement-db",
                "glance-service", "alice", "bob")
SERVICE_DATABASES = {"keystone": ("keystone",), "glance": ("glance",),
                     "nova": ("nova_api", "nova", "nova_cell0"), "placement": ("placement",)}


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


def _mariadb_class() -> Any:
    # Imported late: the MariaDB adapter is its own module, shared with the db tests.
    from sidebyside.lab.mariadb import MariaDBServer

    return MariaDBServer


def mariadb_server(layout: LabLayout, side: str) -> Any:
    """The side's one MariaDB (a Galera cluster's role), on its first controller."""
    topology = layout.topology
    return _mariadb_class()(layout.mariadb_dir(side), host=topology.db_address(side),
                            port=topology.db_port, name=f"lab-{side}-db")


@contextmanager
def _lab_lock(layout: LabLayout) -> Iterator[None]:
    layout.state_dir.mkdir(parents=True, exist_ok=True)
    with open(layout.state_dir / "lab.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            from sidebyside.errors import LockedError

            raise LockedError(f"{layout.state_dir}: another `sbs lab` command is running "
                              f"on this lab") from None
        yield


def ensure_secrets(layout: LabLayout) -> dict[str, str]:
    """Generated passwords, one file each (0600 in a 0700 dir), registered for redaction."""
    layout.secrets_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.secrets_dir, 0o700)
    values = {}
    for name in SECRET_NAMES:
        path = layout.secret_file(name)
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(18) + "\n")
        values[name] = path.read_text().strip()
        register_secret(values[name])
    return values


def _write(path: Path, text: str, mode: int = 0o640) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def give_machine_id(root: Path) -> None:
    """`<root>/etc/machine-id`: a random id of its own for one lab controller, kept
    across `lab up` runs. The lab's controllers all run on this machine, and sbs
    proves old and new apart by the machine id under each host's root."""
    path = root / "etc" / "machine-id"
    if not path.exists():
        _write(path, secrets.token_hex(16) + "\n", mode=0o644)


def run_tool(argv: Sequence[str], *, what: str, ok_codes: Sequence[int] = (0,),
             env: dict[str, str] | None = None, timeout: float = 600.0) -> int:
    """Run a service tool (keystone-manage, ...). Raises StepFailed naming it."""
    started = time.monotonic()
    try:
        result = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                                env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise StepFailed(f"lab-{what}", f"{Path(argv[0]).name} timed out after "
                         f"{timeout:.0f} s") from None
    log.info("%s: %s exited %d in %.1f s", what, Path(argv[0]).name, result.returncode,
             time.monotonic() - started)
    if result.returncode not in ok_codes:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise StepFailed(f"lab-{what}", redact(
            f"`{' '.join(Path(a).name if i == 0 else a for i, a in enumerate(argv))}` "
            f"exited {result.returncode}: {tail}"))
    return result.returncode


class Lab:
    """One lab in one state directory."""

    def __init__(self, state_dir: Path, *, cache_root: Path,
                 progress: Progress | None = None) -> None:
        self.layout = LabLayout(state_dir.resolve())
        self.cache_root = cache_root
        self.progress = progress or (lambda message: log.info("%s", message))
        self._state_lock = threading.Lock()

    # ---- up -------------------------------------------------------------------------

    def up(self, spec: LabSpec, *, python: str) -> UpReport:
        """Bring the lab up (idempotent).

        Raises InputError (another lab's spec in this dir), LockedError (a concurrent
        `lab` command), PreflightError (addresses taken), StepFailed (a set-up step).
        """
        started = time.monotonic()
        report = UpReport()
        with _lab_lock(self.layout):
            state = load_state(self.layout)
            if state is None:
                # Every old controller serves; the new ones start empty and stopped.
                state = LabState(spec=spec, wanted={
                    c.dir: list(spec.served) if c.side == "old" else []
                    for c in spec.topology.all_controllers})
            elif state.spec != spec:
                raise InputError(
                    f"{self.layout.state_dir} holds a lab of {_describe(state.spec)}, not "
                    f"{_describe(spec)}", hint="run `sbs lab down --purge` first, or use "
                    "another --state-dir")
            self._bind(state)
            self._up(state, python, report)
        report.seconds = time.monotonic() - started
        return report

    def _bind(self, state: LabState) -> None:
        """Paths and addresses from here on follow the lab's own topology."""
        self.layout = replace(self.layout, topology=state.spec.topology)

    def _load(self) -> LabState:
        """This lab's state, the layout bound to it. Raises InputError (no lab)."""
        state = load_state(self.layout)
        if state is None:
            raise InputError(f"{self.layout.state_dir}: no lab here (no lab.json)")
        self._bind(state)
        return state

    def _step(self, state: LabState, name: str, action: Callable[[], None],
              report: UpReport) -> None:
        if name in state.done:
            return
        self.progress(name)
        action()
        with self._state_lock:  # steps of two threads record into the one lab.json
            state.mark(name)
            save_state(self.layout, state)
            report.steps.append(name)

    def _up(self, state: LabState, python: str, report: UpReport) -> None:
        spec, layout = state.spec, self.layout
        servers = {side: mariadb_server(layout, side) for side in SIDES}
        self._preflight(state, servers)
        save_state(layout, state)
        for directory in (layout.run_dir, layout.log_dir):
            directory.mkdir(parents=True, exist_ok=True)
        for controller in spec.topology.all_controllers:
            give_machine_id(layout.root(controller.dir))
        passwords = ensure_secrets(layout)
        self._venvs(state, report)
        save_state(layout, state)
        with ThreadPoolExecutor(max_workers=2) as pool:
            for future in [pool.submit(self._mariadb, side, server, report)
                           for side, server in servers.items()]:
                future.result()
        for side in SIDES:
            self._step(state, f"{side}-databases",
                       partial(self._databases, servers[side], side, spec, passwords), report)
            self._step(state, f"{side}-configs", partial(self._configs, state, side, passwords),
                       report)
        self._step(state, "clouds-and-inventory",
                   lambda: self._clouds_and_inventory(state, servers, python, passwords),
                   report)
        for balancer in spec.topology.balancers:
            self._haproxy(spec, balancer, report)
        services = LabServices(layout, state)
        # The database-only set-up (glance's and nova's schemas, nova's cells) needs no
        # keystone: it runs beside keystone's set-up, which is the long pole.
        with ThreadPoolExecutor(max_workers=1) as pool:
            background = pool.submit(self._database_steps, state, passwords, report)
            if "keystone" in spec.services:
                self._step(state, "old-keystone-setup",
                           lambda: self._keystone(state, passwords), report)
                if spec.topology.controllers > 1:
                    self._step(state, "old-keystone-keys",
                               lambda: self._share_keystone_keys(), report)
            self._start_wanted(services, state, "old", "keystone", report)
            if "glance" in spec.services:
                self._step(state, "old-glance-register",
                           lambda: self._glance_register(passwords), report)
            background.result()
        self._start_wanted(services, state, "old", "glance", report)
        self._step(state, "old-seed", lambda: self._seed(state, passwords), report)
        for service in spec.served:
            self._start_wanted(services, state, "new", service, report)

    def _mariadb(self, side: str, server: Any, report: UpReport) -> None:
        if not server.is_running():
            self.progress(f"starting MariaDB of the {side} controller")
            server.start(detach=True)
            report.started.append(f"{side}-mariadb")
        processes.write_pid(self.layout.pid_file(f"{side}-mariadb"), int(server.pid))
        register_secret(server.root_password)

    def _database_steps(self, state: LabState, passwords: dict[str, str],
                        report: UpReport) -> None:
        if "glance" in state.spec.services:
            self._step(state, "old-glance-db", lambda: self._glance_db(state), report)
        if "nova" in state.spec.services:
            self._step(state, "old-nova-setup", lambda: self._nova(state, passwords), report)

    def _preflight(self, state: LabState, servers: dict[str, Any]) -> None:
        """Every address the lab will bind and does not hold yet must be free.

        Raises PreflightError naming the busy addresses (another lab, or a stray service).
        """
        busy = []
        topology = state.spec.topology
        for side, server in servers.items():
            address = topology.db_address(side)
            if not server.is_running() and processes.port_open(address, topology.db_port):
                busy.append(f"{address}:{topology.db_port} (MariaDB of {side})")
        for node in topology.balancers:
            if not processes.running_pid(self.layout.pid_file(node.component)):
                busy += [f"{node.address}:{topology.port(s)} (HAProxy {node.name})"
                         for s in state.spec.services
                         if processes.port_open(node.address, topology.port(s))]
        services = LabServices(self.layout, state)
        for controller in topology.all_controllers:
            for service in state.spec.served:
                status = services.status(controller.side, service, controller.name)
                if status.pid is None and status.listening:
                    busy.append(f"{status.address}:{status.port} ({controller.name} "
                                f"{service})")
        if busy:
            raise PreflightError(
                f"lab {self.layout.state_dir}: addresses already in use by processes this "
                f"lab did not start: {', '.join(busy)}",
                hint="another lab may be running: `sbs lab status --state-dir <its dir>`, "
                     "then `sbs lab down` there")

    def _start_wanted(self, services: LabServices, state: LabState, side: str, service: str,
                      report: UpReport) -> None:
        """Start `service` on every controller of `side` that should run it, in
        parallel (each waits until its server answers). Raises StepFailed."""
        if service not in state.spec.served:
            return
        wanted = [c for c in state.spec.topology.side_controllers(side)
                  if service in state.wanted.get(c.dir, [])]
        with ThreadPoolExecutor(max_workers=max(1, len(wanted))) as pool:
            for future in [pool.submit(self._start, services, c, service, report)
                           for c in wanted]:
                future.result()

    def _start(self, services: LabServices, controller: Controller, service: str,
               report: UpReport) -> None:
        side, name = controller.side, controller.name
        if services.status(side, service, name).pid is None:
            self.progress(f"starting {side} {service}" if controller.dir == side
                          else f"starting {service} on {name}")
            services.start(side, service, name, remember=False)
            with self._state_lock:
                report.started.append(controller.component(service))

    def _venvs(self, state: LabState, report: UpReport) -> None:
        spec, layout = state.spec, self.layout
        for service in spec.services:
            for release_name in spec.releases:
                venv = ensure_venv(service, release_name, self.cache_root)
                if venv.built:
                    self.progress(f"built venv {venv.path.name} in {venv.seconds:.1f} s")
                report.venvs.append(venv)
                state.venvs.setdefault(service, {})[release_name] = str(venv.path)
                _symlink(layout.venv_link(service, release_name), venv.path)
        # Each controller's <root>/opt/openstack/<service>-<release> is one installed
        # release; <root>/usr/bin holds its own release's tools, as packages do.
        for controller in spec.topology.all_controllers:
            side, where = controller.side, controller.dir
            for service in spec.services:
                for release_name in render.side_releases(spec, side):
                    _symlink(layout.release_dir(where, service, release_name),
                             Path(state.venvs[service][release_name]))
            release_name = spec.side_release(side)
            for service in spec.services:
                venv_bin = Path(state.venvs[service][release_name]) / "bin"
                for tool in sorted(venv_bin.glob(f"{service}-*")):
                    _symlink(layout.bin_dir(where) / tool.name, tool)

    def _databases(self, server: Any, side: str, spec: LabSpec,
                   passwords: dict[str, str]) -> None:
        """Service users on both servers (as a deployment creates them); the databases
        themselves only on the old one: the new one holds no data before `sbs prepare`."""
        connection = server.connect(None)
        try:
            with connection.cursor() as cursor:
                for service in spec.services:
                    user, password = service, passwords[f"{service}-db"]
                    cursor.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s",
                                   (user, password))
                    for database in SERVICE_DATABASES[service]:
                        if side == "old":
                            cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{database}` "
                                           f"CHARACTER SET utf8mb4")
                        cursor.execute(f"GRANT ALL PRIVILEGES ON `{database}`.* TO %s@'%%'",
                                       (user,))
            connection.commit()
        finally:
            connection.close()

    def _configs(self, state: LabState, side: str, passwords: dict[str, str]) -> None:
        for controller in state.spec.topology.side_controllers(side):
            self._controller_configs(state, controller, passwords)

    def _controller_configs(self, state: LabState, controller: Controller,
                            passwords: dict[str, str]) -> None:
        spec, layout = state.spec, self.layout
        side, where, name = controller.side, controller.dir, controller.name
        release_name = spec.side_release(side)
        custom = side == "old"
        for service in spec.services:
            (layout.root(where) / "var" / "log" / service).mkdir(parents=True, exist_ok=True)
            layout.var_lib(where, service).mkdir(parents=True, exist_ok=True)
        if "keystone" in spec.services:
            etc = layout.etc(where, "keystone")
            _write(etc / "keystone.conf", render.keystone_conf(
                layout, side, release_name, db_password=passwords["keystone-db"],
                custom=custom, controller=name))
            if custom:
                _write(etc / "policy.yaml", render.keystone_policy(side, name))
        if "glance" in spec.services:
            etc = layout.etc(where, "glance")
            _write(etc / "glance-api.conf", render.glance_conf(
                layout, side, release_name, db_password=passwords["glance-db"],
                service_password=passwords["glance-service"], controller=name))
            paste = Path(state.venvs["glance"][release_name]) / "etc" / "glance" / \
                "glance-api-paste.ini"
            _write(etc / "glance-api-paste.ini", paste.read_text(), mode=0o644)
            for sub in ("staging", "tasks", "lock"):
                (layout.var_lib(where, "glance") / sub).mkdir(parents=True, exist_ok=True)
            layout.glance_images.mkdir(parents=True, exist_ok=True)
        if "nova" in spec.services:
            _write(layout.etc(where, "nova") / "nova.conf", render.nova_conf(
                layout, side, release_name, db_password=passwords["nova-db"],
                controller=name))

    def _clouds_and_inventory(self, state: LabState, servers: dict[str, Any], python: str,
                              passwords: dict[str, str]) -> None:
        layout, spec = self.layout, state.spec
        _write(layout.clouds_yaml, yaml.safe_dump(
            render.clouds(passwords["admin"], spec.served, spec.topology), sort_keys=False),
               mode=0o600)
        inventory = render.inventory(
            layout, spec, python=python,
            db_password_files={side: Path(servers[side].password_file) for side in SIDES},
            deploy=self._deploy(python))
        _write(layout.inventory, "# The sbs inventory of the lab, written by `sbs lab up`.\n"
               + yaml.safe_dump(inventory, sort_keys=False), mode=0o644)

    def _deploy(self, python: str) -> dict[str, Any] | None:
        """`deploy.ansible` for the inventory: the lab's new-controller playbook, with
        an ansible inventory reaching the new controller locally (None without it)."""
        try:
            from sidebyside.deploy.lab import LAB_PLAYBOOK, LabAnsibleHost, render_lab_inventory
        except ImportError:
            return None
        if not LAB_PLAYBOOK.is_file():
            return None
        layout = self.layout
        _write(layout.ansible_inventory, render_lab_inventory([
            LabAnsibleHost(name=c.name, address=c.address, root=str(layout.root(c.dir)))
            for c in layout.topology.side_controllers("new")]), mode=0o644)
        return {"ansible": {"playbook": str(LAB_PLAYBOOK),
                            "inventory": str(layout.ansible_inventory), "limit": "new",
                            "extra_vars": {"sbs_python": python}}}

    def _haproxy(self, spec: LabSpec, balancer: Balancer, report: UpReport) -> None:
        layout = self.layout
        pid_file = layout.pid_file(balancer.component)
        if processes.running_pid(pid_file):
            return
        cfg = layout.haproxy_cfg_of(balancer)
        _write(cfg, render.haproxy_cfg(layout, spec.services, balancer), mode=0o644)
        layout.haproxy_state_file_of(balancer).touch(exist_ok=True)
        layout.haproxy_write_freeze_map_of(balancer).touch(exist_ok=True)
        self.progress("starting HAProxy" if not balancer.dir
                      else f"starting HAProxy {balancer.name}")
        layout.haproxy_socket_of(balancer).unlink(missing_ok=True)
        run_tool([_haproxy_binary(), "-f", str(cfg), "-D", "-p", str(pid_file)],
                 what=f"{balancer.component}-start")
        report.started.append(balancer.component)

    def _keystone(self, state: LabState, passwords: dict[str, str]) -> None:
        layout = self.layout
        venv_bin = Path(state.venvs["keystone"][state.spec.from_release]) / "bin"
        etc = layout.etc(layout.topology.controller("old").dir, "keystone")
        manage = [str(venv_bin / "keystone-manage"), "--config-file", str(etc / "keystone.conf")]
        user, group = getpass.getuser(), grp.getgrgid(os.getgid()).gr_name
        run_tool([*manage, "db_sync"], what="keystone-db-sync")
        for repository in ("fernet_setup", "credential_setup"):
            run_tool([*manage, repository, "--keystone-user", user, "--keystone-group", group],
                     what=f"keystone-{repository}")
        topology = layout.topology
        vip_url = f"http://{topology.vip}:{topology.port('keystone')}/v3"
        run_tool([*manage, "bootstrap", "--bootstrap-username", "admin",
                  "--bootstrap-project-name", "admin", "--bootstrap-role-name", "admin",
                  "--bootstrap-service-name", "keystone", "--bootstrap-region-id", render.REGION,
                  "--bootstrap-admin-url", vip_url, "--bootstrap-internal-url", vip_url,
                  "--bootstrap-public-url", vip_url],
                 env={"OS_BOOTSTRAP_PASSWORD": passwords["admin"]}, what="keystone-bootstrap")

    def _share_keystone_keys(self) -> None:
        """The fernet and credential keys of the first old controller on the others, as
        an operator's key distribution does: any controller validates any token."""
        layout = self.layout
        first, *others = layout.topology.side_controllers("old")
        for repository in ("fernet-keys", "credential-keys"):
            source = layout.etc(first.dir, "keystone") / repository
            for controller in others:
                target = layout.etc(controller.dir, "keystone") / repository
                if target.exists():
                    shutil.rmtree(target)
                shutil.copytree(source, target)
                os.chmod(target, source.stat().st_mode & 0o7777)

    def _glance_register(self, passwords: dict[str, str]) -> None:
        from sidebyside.lab import seed  # openstacksdk takes seconds to import

        conn = seed.connect(self.layout.clouds_yaml, "lab-old")
        topology = self.layout.topology
        seed.register_glance(conn, passwords["glance-service"],
                             url=f"http://{topology.vip}:{topology.port('glance')}")

    def _glance_db(self, state: LabState) -> None:
        venv_bin = Path(state.venvs["glance"][state.spec.from_release]) / "bin"
        first = self.layout.topology.controller("old").dir
        conf = self.layout.etc(first, "glance") / "glance-api.conf"
        run_tool([str(venv_bin / "glance-manage"), "--config-file", str(conf), "db_sync"],
                 what="glance-db-sync")

    def _nova(self, state: LabState, passwords: dict[str, str]) -> None:
        """Databases and cell mappings of nova, no nova service: the cell mappings store
        the old servers' URLs literally, the trap a real upgrade must handle."""
        venv_bin = Path(state.venvs["nova"][state.spec.from_release]) / "bin"
        topology = self.layout.topology
        conf = self.layout.etc(topology.controller("old").dir, "nova") / "nova.conf"
        manage = [str(venv_bin / "nova-manage"), "--config-file", str(conf)]
        password = passwords["nova-db"]
        run_tool([*manage, "api_db", "sync"], what="nova-api-db-sync")
        run_tool([*manage, "cell_v2", "map_cell0", "--database_connection",
                  render.database_url("old", "nova", password, "nova_cell0", topology)],
                 what="nova-map-cell0")
        run_tool([*manage, "cell_v2", "create_cell", "--name", "cell1",
                  "--database_connection",
                  render.database_url("old", "nova", password, "nova", topology),
                  "--transport-url", render.transport_url("old", topology)],
                 what="nova-create-cell1", ok_codes=(0, 2))
        run_tool([*manage, "db", "sync"], what="nova-db-sync")

    def _seed(self, state: LabState, passwords: dict[str, str]) -> None:
        from sidebyside.lab import seed

        conn = seed.connect(self.layout.clouds_yaml, "lab-old")
        facts = seed.seed(conn, user_passwords={u: passwords[u] for u in seed.USERS},
                          with_image="glance" in state.spec.services)
        _write(self.layout.state_dir / "seed.json",
               json.dumps(facts, indent=2) + "\n", mode=0o644)

    # ---- status and down ------------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        """Every component: running, address, port, pid. Raises InputError (no lab)."""
        state = self._load()
        layout, topology = self.layout, state.spec.topology
        services = LabServices(layout, state)
        rows: list[dict[str, Any]] = []
        for side in SIDES:
            pid = processes.running_pid(layout.pid_file(f"{side}-mariadb"))
            address = topology.db_address(side)
            rows.append({"component": f"{side}-mariadb", "address": address,
                         "port": topology.db_port, "pid": pid, "running": pid is not None,
                         "listening": processes.port_open(address, topology.db_port)})
            for controller in topology.side_controllers(side):
                for service in state.spec.services:
                    status: ServiceStatus = services.status(side, service, controller.name)
                    row = status.to_dict()
                    row["component"] = controller.component(service)
                    if status.database_only:  # it "runs" when its databases do
                        row["running"] = pid is not None
                    rows.append(row)
        for node in topology.balancers:
            pid = processes.running_pid(layout.pid_file(node.component))
            rows.append({"component": node.component, "address": node.address,
                         "port": ",".join(str(topology.port(s)) for s in state.spec.services),
                         "pid": pid, "running": pid is not None,
                         "listening": any(processes.port_open(node.address, topology.port(s))
                                          for s in state.spec.served)})
        return rows

    def reset_new(self) -> list[str]:
        """Return the new controllers to what `up` left: stopped, no databases, a plain
        deployed config tree without keys; the VIP back on the old controllers, whose
        services run. For running `sbs prepare` again on the same lab (`make demo`).

        Returns what was done. Raises InputError (no lab, or not up) or StepFailed.
        """
        done: list[str] = []
        with _lab_lock(self.layout):
            state = self._load()
            layout, spec = self.layout, state.spec
            topology = spec.topology
            server = mariadb_server(layout, "new")
            if not server.is_running() or not all(
                    processes.running_pid(layout.pid_file(n.component))
                    for n in topology.balancers):
                raise InputError(f"{layout.state_dir}: the lab is not up; run `sbs lab up`")
            services = LabServices(layout, state)
            for controller in topology.side_controllers("new"):
                for service in spec.served:
                    if services.status("new", service, controller.name).pid is not None:
                        services.stop("new", service, controller.name, remember=False)
                        done.append(f"stopped {_on(controller, service)}")
                    state.want(controller.dir, service, False)
            connection = server.connect(None)
            try:
                with connection.cursor() as cursor:
                    for service in spec.services:
                        for database in SERVICE_DATABASES[service]:
                            if cursor.execute("SHOW DATABASES LIKE %s", (database,)):
                                cursor.execute(f"DROP DATABASE `{database}`")
                                done.append(f"dropped {database} on the new server")
                connection.commit()
            finally:
                connection.close()
            for controller in topology.side_controllers("new"):
                for service in spec.services:
                    etc = layout.etc(controller.dir, service)
                    if etc.exists():
                        shutil.rmtree(etc)
            self._configs(state, "new", ensure_secrets(layout))
            done.append("new config tree re-deployed")
            for node in topology.balancers:
                for service in spec.services:
                    backend = backend_name(service)
                    for controller in topology.all_controllers:
                        wanted = "ready" if controller.side == "old" else "maint"
                        processes.unix_socket_command(
                            layout.haproxy_socket_of(node),
                            f"set server {backend}/{controller.name} state {wanted}")
                    processes.unix_socket_command(
                        layout.haproxy_socket_of(node),
                        f"del map {layout.haproxy_write_freeze_map_of(node)} {backend}")
                _write(layout.haproxy_write_freeze_map_of(node), "", mode=0o644)
            done.append("HAProxy: old servers ready, new ones in maintenance, writes open")
            for controller in topology.side_controllers("old"):
                for service in spec.served:
                    state.want(controller.dir, service, True)
                    if services.status("old", service, controller.name).pid is None:
                        services.start("old", service, controller.name, remember=False)
                        done.append(f"started {_on(controller, service)}")
            save_state(layout, state)
        return done

    def down(self, *, purge: bool = False) -> list[str]:
        """Stop every process the lab started, by its recorded PID; with purge, delete
        the state directory too. Returns what was stopped. Raises StepFailed."""
        stopped: list[str] = []
        if not self.layout.state_dir.is_dir():
            return stopped
        with _lab_lock(self.layout):
            state = load_state(self.layout)
            if state is not None:
                self._bind(state)
                services = LabServices(self.layout, state)
                for controller in state.spec.topology.all_controllers:
                    for service in state.spec.services:
                        if service in SERVED_SERVICES and services.status(
                                controller.side, service, controller.name).pid is not None:
                            services.stop(controller.side, service, controller.name,
                                          remember=False)
                            stopped.append(controller.component(service))
            layout = self.layout
            for node in layout.topology.balancers:
                pid_file = layout.pid_file(node.component)
                pid = processes.running_pid(pid_file)
                if pid:
                    self._save_haproxy_state(node)
                    processes.stop_pid(pid, what=node.component)
                    stopped.append(node.component)
                pid_file.unlink(missing_ok=True)
            for side in SIDES:
                if stopped_db := self._stop_mariadb(side):
                    stopped.append(stopped_db)
        if purge and self.layout.state_dir.exists():
            shutil.rmtree(self.layout.state_dir)
        return stopped

    def _save_haproxy_state(self, node: Balancer) -> None:
        """Keep which servers are enabled (after a cutover: the new ones) across
        `lab down`/`lab up`: HAProxy loads the file on start (load-server-state-from-file)."""
        layout = self.layout
        try:
            text = processes.unix_socket_command(layout.haproxy_socket_of(node),
                                                 "show servers state")
        except OSError as exc:
            log.warning("could not save %s's server state: %s", node.component, exc)
            return
        if text.lstrip().startswith("1"):  # the state file format's version line
            _write(layout.haproxy_state_file_of(node), text, mode=0o644)

    def _stop_mariadb(self, side: str) -> str | None:
        layout = self.layout
        pid_file = layout.pid_file(f"{side}-mariadb")
        pid = processes.running_pid(pid_file)
        if layout.mariadb_dir(side).exists():
            server = mariadb_server(layout, side)
            if server.is_running():
                server.stop()
                pid = pid or -1
        if pid and pid > 0 and processes.pid_alive(pid):  # stop() failed: by PID then
            processes.stop_pid(pid, what=f"{side}-mariadb")
        pid_file.unlink(missing_ok=True)
        return f"{side}-mariadb" if pid else None


def _describe(spec: LabSpec) -> str:
    via = f" via {', '.join(spec.via)}" if spec.via else ""
    topology = spec.topology
    shape = "" if topology.controllers == topology.haproxy_nodes == 1 else (
        f", {topology.controllers} controllers a side, {topology.haproxy_nodes} HAProxy "
        f"nodes on {topology.address_base}.x")
    return (f"{spec.from_release} -> {spec.to_release}{via} "
            f"({', '.join(spec.services)}{shape})")


def _on(controller: Controller, service: str) -> str:
    """`new keystone` in the default lab, `keystone on new-ctl2` with several a side."""
    if controller.dir == controller.side:
        return f"{controller.side} {service}"
    return f"{service} on {controller.name}"


def _symlink(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return
    tmp = link.with_name(link.name + ".tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)


def _haproxy_binary() -> str:
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
    if not found:
        raise InputError("haproxy is not installed (apt-get install haproxy)")
    return found
