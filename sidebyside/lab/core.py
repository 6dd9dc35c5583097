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
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from sidebyside.errors import InputError, PreflightError, StepFailed
from sidebyside.lab import processes, render
from sidebyside.lab.layout import (
    CONTROLLER,
    DB_PORT,
    SERVED_SERVICES,
    SIDE_ADDRESS,
    SIDES,
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
    return _mariadb_class()(layout.mariadb_dir(side), host=SIDE_ADDRESS[side], port=DB_PORT,
                            name=f"lab-{side}-db")


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
                state = LabState(spec=spec, wanted={"old": list(spec.served), "new": []})
            elif state.spec != spec:
                raise InputError(
                    f"{self.layout.state_dir} holds a lab of {_describe(state.spec)}, not "
                    f"{_describe(spec)}", hint="run `sbs lab down --purge` first, or use "
                    "another --state-dir")
            self._up(state, python, report)
        report.seconds = time.monotonic() - started
        return report

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
        self._haproxy(spec, report)
        services = LabServices(layout, state)
        wanted_old = [s for s in spec.services if s in state.wanted.get("old", [])]
        # The database-only set-up (glance's and nova's schemas, nova's cells) needs no
        # keystone: it runs beside keystone's set-up, which is the long pole.
        with ThreadPoolExecutor(max_workers=1) as pool:
            background = pool.submit(self._database_steps, state, passwords, report)
            if "keystone" in spec.services:
                self._step(state, "old-keystone-setup",
                           lambda: self._keystone(state, passwords), report)
            if "keystone" in wanted_old:
                self._start(services, "old", "keystone", report)
            if "glance" in spec.services:
                self._step(state, "old-glance-register",
                           lambda: self._glance_register(passwords), report)
            background.result()
        if "glance" in wanted_old:
            self._start(services, "old", "glance", report)
        self._step(state, "old-seed", lambda: self._seed(state, passwords), report)
        for service in spec.served:
            if service in state.wanted.get("new", []):
                self._start(services, "new", service, report)

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
        for side, server in servers.items():
            if not server.is_running() and processes.port_open(SIDE_ADDRESS[side], DB_PORT):
                busy.append(f"{SIDE_ADDRESS[side]}:{DB_PORT} (MariaDB of {side})")
        if not processes.running_pid(self.layout.pid_file("haproxy")):
            busy += [f"{render.VIP}:{render.SERVICE_PORT[s]} (HAProxy)" for s in
                     state.spec.services if processes.port_open(render.VIP,
                                                                render.SERVICE_PORT[s])]
        services = LabServices(self.layout, state)
        for side in SIDES:
            for service in state.spec.served:
                status = services.status(side, service)
                if status.pid is None and status.listening:
                    busy.append(f"{status.address}:{status.port} ({side} {service})")
        if busy:
            raise PreflightError(
                f"lab {self.layout.state_dir}: addresses already in use by processes this "
                f"lab did not start: {', '.join(busy)}",
                hint="another lab may be running: `sbs lab status --state-dir <its dir>`, "
                     "then `sbs lab down` there")

    def _start(self, services: LabServices, side: str, service: str,
               report: UpReport) -> None:
        if services.status(side, service).pid is None:
            self.progress(f"starting {side} {service}")
            services.start(side, service, remember=False)
            report.started.append(f"{side}-{service}")

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
        for side in SIDES:
            for service in spec.services:
                for release_name in render.side_releases(spec, side):
                    _symlink(layout.release_dir(side, service, release_name),
                             Path(state.venvs[service][release_name]))
            release_name = spec.side_release(side)
            for service in spec.services:
                venv_bin = Path(state.venvs[service][release_name]) / "bin"
                for tool in sorted(venv_bin.glob(f"{service}-*")):
                    _symlink(layout.bin_dir(side) / tool.name, tool)

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
        spec, layout = state.spec, self.layout
        release_name = spec.side_release(side)
        custom = side == "old"
        for service in spec.services:
            (layout.root(side) / "var" / "log" / service).mkdir(parents=True, exist_ok=True)
            layout.var_lib(side, service).mkdir(parents=True, exist_ok=True)
        if "keystone" in spec.services:
            etc = layout.etc(side, "keystone")
            _write(etc / "keystone.conf", render.keystone_conf(
                layout, side, release_name, db_password=passwords["keystone-db"],
                custom=custom))
            if custom:
                _write(etc / "policy.yaml", render.keystone_policy(side))
        if "glance" in spec.services:
            etc = layout.etc(side, "glance")
            _write(etc / "glance-api.conf", render.glance_conf(
                layout, side, release_name, db_password=passwords["glance-db"],
                service_password=passwords["glance-service"]))
            paste = Path(state.venvs["glance"][release_name]) / "etc" / "glance" / \
                "glance-api-paste.ini"
            _write(etc / "glance-api-paste.ini", paste.read_text(), mode=0o644)
            for sub in ("staging", "tasks", "lock"):
                (layout.var_lib(side, "glance") / sub).mkdir(parents=True, exist_ok=True)
            layout.glance_images.mkdir(parents=True, exist_ok=True)
        if "nova" in spec.services:
            _write(layout.etc(side, "nova") / "nova.conf", render.nova_conf(
                layout, side, release_name, db_password=passwords["nova-db"]))

    def _clouds_and_inventory(self, state: LabState, servers: dict[str, Any], python: str,
                              passwords: dict[str, str]) -> None:
        layout, spec = self.layout, state.spec
        _write(layout.clouds_yaml, yaml.safe_dump(
            render.clouds(passwords["admin"], spec.served), sort_keys=False), mode=0o600)
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
        _write(layout.ansible_inventory, render_lab_inventory([LabAnsibleHost(
            name=render.CONTROLLER["new"], address=SIDE_ADDRESS["new"],
            root=str(layout.root("new")))]), mode=0o644)
        return {"ansible": {"playbook": str(LAB_PLAYBOOK),
                            "inventory": str(layout.ansible_inventory), "limit": "new",
                            "extra_vars": {"sbs_python": python}}}

    def _haproxy(self, spec: LabSpec, report: UpReport) -> None:
        layout = self.layout
        if processes.running_pid(layout.pid_file("haproxy")):
            return
        _write(layout.haproxy_cfg, render.haproxy_cfg(layout, spec.services), mode=0o644)
        layout.haproxy_state_file.touch(exist_ok=True)
        layout.haproxy_write_freeze_map.touch(exist_ok=True)
        self.progress("starting HAProxy")
        layout.haproxy_socket.unlink(missing_ok=True)
        run_tool([_haproxy_binary(), "-f", str(layout.haproxy_cfg), "-D",
                  "-p", str(layout.pid_file("haproxy"))], what="haproxy-start")
        report.started.append("haproxy")

    def _keystone(self, state: LabState, passwords: dict[str, str]) -> None:
        layout = self.layout
        venv_bin = Path(state.venvs["keystone"][state.spec.from_release]) / "bin"
        etc = layout.etc("old", "keystone")
        manage = [str(venv_bin / "keystone-manage"), "--config-file", str(etc / "keystone.conf")]
        user, group = getpass.getuser(), grp.getgrgid(os.getgid()).gr_name
        run_tool([*manage, "db_sync"], what="keystone-db-sync")
        for repository in ("fernet_setup", "credential_setup"):
            run_tool([*manage, repository, "--keystone-user", user, "--keystone-group", group],
                     what=f"keystone-{repository}")
        vip_url = f"http://{render.VIP}:{render.SERVICE_PORT['keystone']}/v3"
        run_tool([*manage, "bootstrap", "--bootstrap-username", "admin",
                  "--bootstrap-project-name", "admin", "--bootstrap-role-name", "admin",
                  "--bootstrap-service-name", "keystone", "--bootstrap-region-id", render.REGION,
                  "--bootstrap-admin-url", vip_url, "--bootstrap-internal-url", vip_url,
                  "--bootstrap-public-url", vip_url],
                 env={"OS_BOOTSTRAP_PASSWORD": passwords["admin"]}, what="keystone-bootstrap")

    def _glance_register(self, passwords: dict[str, str]) -> None:
        from sidebyside.lab import seed  # openstacksdk takes seconds to import

        conn = seed.connect(self.layout.clouds_yaml, "lab-old")
        seed.register_glance(conn, passwords["glance-service"])

    def _glance_db(self, state: LabState) -> None:
        venv_bin = Path(state.venvs["glance"][state.spec.from_release]) / "bin"
        conf = self.layout.etc("old", "glance") / "glance-api.conf"
        run_tool([str(venv_bin / "glance-manage"), "--config-file", str(conf), "db_sync"],
                 what="glance-db-sync")

    def _nova(self, state: LabState, passwords: dict[str, str]) -> None:
        """Databases and cell mappings of nova, no nova service: the cell mappings store
        the old servers' URLs literally, the trap a real upgrade must handle."""
        venv_bin = Path(state.venvs["nova"][state.spec.from_release]) / "bin"
        conf = self.layout.etc("old", "nova") / "nova.conf"
        manage = [str(venv_bin / "nova-manage"), "--config-file", str(conf)]
        password = passwords["nova-db"]
        run_tool([*manage, "api_db", "sync"], what="nova-api-db-sync")
        run_tool([*manage, "cell_v2", "map_cell0", "--database_connection",
                  render.database_url("old", "nova", password, "nova_cell0")],
                 what="nova-map-cell0")
        run_tool([*manage, "cell_v2", "create_cell", "--name", "cell1",
                  "--database_connection", render.database_url("old", "nova", password, "nova"),
                  "--transport-url", render.transport_url("old")],
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
        layout = self.layout
        state = load_state(layout)
        if state is None:
            raise InputError(f"{layout.state_dir}: no lab here (no lab.json)")
        rows: list[dict[str, Any]] = []
        for side in SIDES:
            pid = processes.running_pid(layout.pid_file(f"{side}-mariadb"))
            rows.append({"component": f"{side}-mariadb", "address": SIDE_ADDRESS[side],
                         "port": DB_PORT, "pid": pid, "running": pid is not None,
                         "listening": processes.port_open(SIDE_ADDRESS[side], DB_PORT)})
            services = LabServices(layout, state)
            for service in state.spec.services:
                status: ServiceStatus = services.status(side, service)
                row = status.to_dict()
                row["component"] = f"{side}-{service}"
                if status.database_only:  # it "runs" when its databases do
                    row["running"] = pid is not None
                rows.append(row)
        pid = processes.running_pid(layout.pid_file("haproxy"))
        rows.append({"component": "haproxy", "address": render.VIP,
                     "port": ",".join(str(render.SERVICE_PORT[s]) for s in state.spec.services),
                     "pid": pid, "running": pid is not None,
                     "listening": any(processes.port_open(render.VIP, render.SERVICE_PORT[s])
                                      for s in state.spec.served)})
        return rows

    def reset_new(self) -> list[str]:
        """Return the new controller to what `up` left: stopped, no databases, a plain
        deployed config tree without keys; the VIP back on the old controller, whose
        services run. For running `sbs prepare` again on the same lab (`make demo`).

        Returns what was done. Raises InputError (no lab, or not up) or StepFailed.
        """
        layout = self.layout
        done: list[str] = []
        with _lab_lock(layout):
            state = load_state(layout)
            if state is None:
                raise InputError(f"{layout.state_dir}: no lab here (no lab.json)")
            spec = state.spec
            server = mariadb_server(layout, "new")
            if not server.is_running() or not processes.running_pid(layout.pid_file("haproxy")):
                raise InputError(f"{layout.state_dir}: the lab is not up; run `sbs lab up`")
            services = LabServices(layout, state)
            for service in spec.served:
                if services.status("new", service).pid is not None:
                    services.stop("new", service, remember=False)
                    done.append(f"stopped new {service}")
                state.want("new", service, False)
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
            for service in spec.services:
                etc = layout.etc("new", service)
                if etc.exists():
                    shutil.rmtree(etc)
            self._configs(state, "new", ensure_secrets(layout))
            done.append("new config tree re-deployed")
            for service in spec.services:
                backend = backend_name(service)
                for command in (f"set server {backend}/{CONTROLLER['old']} state ready",
                                f"set server {backend}/{CONTROLLER['new']} state maint"):
                    processes.unix_socket_command(layout.haproxy_socket, command)
                processes.unix_socket_command(
                    layout.haproxy_socket,
                    f"del map {layout.haproxy_write_freeze_map} {backend}")
            _write(layout.haproxy_write_freeze_map, "", mode=0o644)
            done.append("HAProxy: old servers ready, new ones in maintenance, writes open")
            for service in spec.served:
                state.want("old", service, True)
                if services.status("old", service).pid is None:
                    services.start("old", service, remember=False)
                    done.append(f"started old {service}")
            save_state(layout, state)
        return done

    def down(self, *, purge: bool = False) -> list[str]:
        """Stop every process the lab started, by its recorded PID; with purge, delete
        the state directory too. Returns what was stopped. Raises StepFailed."""
        layout = self.layout
        stopped: list[str] = []
        if not layout.state_dir.is_dir():
            return stopped
        with _lab_lock(layout):
            state = load_state(layout)
            if state is not None:
                services = LabServices(layout, state)
                for side in SIDES:
                    for service in state.spec.services:
                        if service in SERVED_SERVICES and \
                                services.status(side, service).pid is not None:
                            services.stop(side, service, remember=False)
                            stopped.append(f"{side}-{service}")
            pid = processes.running_pid(layout.pid_file("haproxy"))
            if pid:
                self._save_haproxy_state()
                processes.stop_pid(pid, what="haproxy")
                stopped.append("haproxy")
            layout.pid_file("haproxy").unlink(missing_ok=True)
            for side in SIDES:
                if stopped_db := self._stop_mariadb(side):
                    stopped.append(stopped_db)
        if purge and layout.state_dir.exists():
            shutil.rmtree(layout.state_dir)
        return stopped

    def _save_haproxy_state(self) -> None:
        """Keep which servers are enabled (after a cutover: the new ones) across
        `lab down`/`lab up`: HAProxy loads the file on start (load-server-state-from-file)."""
        layout = self.layout
        try:
            text = processes.unix_socket_command(layout.haproxy_socket, "show servers state")
        except OSError as exc:
            log.warning("could not save HAProxy's server state: %s", exc)
            return
        if text.lstrip().startswith("1"):  # the state file format's version line
            _write(layout.haproxy_state_file, text, mode=0o644)

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
    return f"{spec.from_release} -> {spec.to_release}{via} ({', '.join(spec.services)})"


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
