"""Pre-flight: everything that would make `prepare` fail half-way, found before it
starts (`sbs check`, and the first step of prepare).

Each check adds results with a severity: ok, warning (reported, does not block) or
blocker (exit code 3). A check that cannot be carried out says so instead of
crashing the others. Nothing here changes anything: commands on the old controller
are read-only (`db_sync --check`, reading configs), database access is SELECTs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sidebyside.computes.registry import registered_nova_services
from sidebyside.computes.versions import (
    judge_computes,
    undeclared_computes,
)
from sidebyside.config.ini import Document
from sidebyside.db import server_facts
from sidebyside.db.client import ReadOnlySession, text_of
from sidebyside.errors import InputError, PreflightError, SbsError
from sidebyside.inventory import Inventory
from sidebyside.redact import redact
from sidebyside.remote.base import Host
from sidebyside.remote.factory import HostSpec, connect, rooted
from sidebyside.remote.inventory_hosts import Hosts
from sidebyside.services import releases as releases_mod
from sidebyside.services.catalog import databases_of, service
from sidebyside.sides import (
    MachineReader,
    require_distinct_controllers,
    rpc_workers,
    same_host_by_identity,
    shared_bus,
)
from sidebyside.traffic.errors import HaproxyUnreachable
from sidebyside.traffic.haproxy import HaproxyNode
from sidebyside.upgrade.commands import LogSink, display, render
from sidebyside.upgrade.db_sync import read_check
from sidebyside.upgrade.release_notes import (
    CatalogEntry,
    match_catalog,
    match_options,
    python_finding,
    release_notes,
)

HostFactory = Callable[[str], Host]
OK, WARNING, BLOCKER = "ok", "warning", "blocker"
_RANK = {OK: 0, WARNING: 1, BLOCKER: 2}
REACH_TIMEOUT = 20.0
PROBE_TIMEOUT = 60.0
CHECK_TIMEOUT = 300.0
# A copy needs the data plus room for the migrations' temporary tables and logs.
DISK_MARGIN = 1.5
MEMORY_TOLERANCE = 0.95

_PACKAGE_PROBE = (
    "import importlib, importlib.metadata as m, json, sys\n"
    "dist, module = sys.argv[1], sys.argv[2]\n"
    "out = {'python': list(sys.version_info[:3])}\n"
    "try:\n"
    "    importlib.import_module(module)\n"
    "    out['version'] = m.version(dist)\n"
    "except Exception as exc:\n"
    "    out['error'] = f'{type(exc).__name__}: {exc}'\n"
    "print(json.dumps(out))\n")


@dataclass(frozen=True)
class CheckResult:
    check: str
    severity: str
    subject: str
    message: str
    advice: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"check": self.check, "severity": self.severity, "subject": self.subject,
                "message": redact(self.message), "advice": redact(self.advice)}


@dataclass
class PreflightReport:
    environment: str
    old_release: str
    new_release: str
    results: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    def add(self, check: str, severity: str, subject: str, message: str,
            advice: str = "") -> None:
        self.results.append(CheckResult(check, severity, subject, message, advice))

    @property
    def blockers(self) -> list[CheckResult]:
        return [r for r in self.results if r.severity == BLOCKER]

    @property
    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results if r.severity == WARNING]

    @property
    def severity(self) -> str:
        return max((r.severity for r in self.results), key=_RANK.__getitem__, default=OK)

    def to_dict(self) -> dict[str, Any]:
        return {"environment": self.environment,
                "release": {"from": self.old_release, "to": self.new_release},
                "severity": self.severity, "blockers": len(self.blockers),
                "warnings": len(self.warnings), "seconds": round(self.seconds, 3),
                "checks": [r.to_dict() for r in self.results]}

    def raise_if_blocked(self) -> None:
        """Raises PreflightError (exit code 3) listing every blocker."""
        if self.blockers:
            lines = [f"  {r.check}: {r.subject}: {r.message}" for r in self.blockers]
            raise PreflightError(f"pre-flight found {len(self.blockers)} blocker(s):\n"
                                 + redact("\n".join(lines)),
                                 hint="fix them (see `sbs check`), then re-run")


class _Preflight:
    def __init__(self, inv: Inventory, hosts: HostFactory, log: LogSink) -> None:
        self.inv = inv
        self.hosts = hosts
        self.log = log
        self.report = PreflightReport(inv.environment, inv.release.from_, inv.release.to)
        self.unreachable: set[str] = set()
        self.db_ok: dict[str, bool] = {}

    # -- helpers -------------------------------------------------------------------
    def guarded(self, name: str, check: Callable[[], None], failure: str = WARNING) -> None:
        self.log(f"pre-flight: {name}")
        try:
            check()
        except SbsError as exc:
            self.report.add(name, failure, "-", f"could not check: {exc.message}")

    def _etc(self, host_name: str) -> str:
        model = self.inv.hosts.get(host_name)
        return rooted(model.root if model else "/", "/etc")

    def _reachable(self, names: list[str]) -> list[str]:
        return [n for n in names if n not in self.unreachable]

    # -- checks --------------------------------------------------------------------
    def release_path(self) -> None:
        path = [self.inv.release.from_, *self.inv.release.path]
        bad = releases_mod.unsupported_hops(path)
        for a, b in bad:
            via = releases_mod.suggest_via(a, b)
            self.report.add("release", BLOCKER, f"{a} -> {b}",
                            "not an upgrade upstream supports",
                            f"set release.via: [{', '.join(repr(v) for v in via)}]")
        if not bad:
            hops = ", ".join(f"{a} -> {b}" + (" (SLURP skip-level)"
                                              if releases_mod.successor(a) != b else "")
                             for a, b in zip(path, path[1:], strict=False))
            self.report.add("release", OK, " -> ".join(path), f"supported: {hops}")

    def hosts_reachable(self) -> None:
        names = list(dict.fromkeys(
            [*self.inv.old.controllers, *self.inv.new.controllers,
             *([n.host for n in self.inv.ha.haproxy.nodes] if self.inv.ha.haproxy else [])]))
        for name in names:
            try:
                result = self.hosts(name).run(["true"], timeout=REACH_TIMEOUT, check=False)
                if result.returncode == 0:
                    self.report.add("host", OK, name, "reachable, runs commands")
                    continue
                message = f"`true` exited {result.returncode}"
            except SbsError as exc:
                message = exc.message
            self.unreachable.add(name)
            self.report.add("host", BLOCKER, name, f"unreachable: {message}")

    def databases_reachable(self) -> None:
        for side in ("old", "new"):
            db = self.inv.side(side).database
            try:
                with server_facts.probe_session(db, f"{side}.database") as conn:
                    facts = server_facts.server_facts(conn)
                self.db_ok[side] = True
                self.report.add("database", OK, f"{side} {db.host}:{db.port}",
                                f"reachable, server {facts.version}")
            except SbsError as exc:
                self.db_ok[side] = False
                self.report.add("database", BLOCKER, f"{side} {db.host}:{db.port}",
                                exc.message)

    def sides(self) -> None:
        """Old and new are different machines and database servers, by identity: the
        proof every run makes first (sidebyside/sides.py), a blocker here."""
        controllers = [*self.inv.old.controllers, *self.inv.new.controllers]
        if self._reachable(controllers) != controllers:
            return  # reported as unreachable already
        try:
            shown = require_distinct_controllers(self.inv, MachineReader(self.inv, self.hosts))
        except SbsError as exc:
            self.report.add("sides", BLOCKER, "controllers", exc.message, exc.hint or "")
        else:
            self.report.add("sides", OK, "controllers", "old and new are different "
                            "machines: " + ", ".join(f"{k} {v}" for k, v in shown.items()))
        if not (self.db_ok.get("old") and self.db_ok.get("new")):
            return
        from sidebyside import db
        from sidebyside.db.identity import require_distinct_servers

        try:
            old_id, new_id = require_distinct_servers(
                db.endpoint_from_inventory(self.inv.old.database),
                db.endpoint_from_inventory(self.inv.new.database))
        except SbsError as exc:
            self.report.add("sides", BLOCKER, "databases", exc.message, exc.hint or "")
        else:
            self.report.add("sides", OK, "databases", f"old.database is "
                            f"{old_id.describe()}, new.database is {new_id.describe()}")

    def bus(self) -> None:
        """The new side's RPC workers must not start on the old side's broker and vhost."""
        workers = rpc_workers(self.inv)
        if not workers:
            return
        why = shared_bus(self.inv, same_host=same_host_by_identity(
            MachineReader(self.inv, self.hosts)))
        if why:
            self.report.add("bus", BLOCKER, "new.broker", why,
                            "give the new side its own broker or vhost (new.broker)")
        elif self.inv.old.broker is None and self.inv.new.broker is None:
            self.report.add("bus", WARNING, ", ".join(workers),
                            "neither old.broker nor new.broker is given: sbs cannot tell "
                            "whether the new side's RPC workers have a bus of their own",
                            "name both sides' brokers (host, vhost)")
        else:
            self.report.add("bus", OK, "new.broker", "the new side's RPC workers have a "
                            "broker or vhost of their own")

    def computes(self) -> None:
        """Every compute service registered with the old control plane runs a version
        the new release accepts (sidebyside/computes/versions.py), and each is one the
        inventory's computes name, so it follows the control plane's bus at cutover."""
        nova = service("nova")
        if "nova" not in self.inv.services or not nova.compute_binary \
                or not self.db_ok.get("old"):
            return
        with server_facts.probe_session(self.inv.old.database, "old.database") as conn:
            registered = registered_nova_services(conn, [
                d for d in nova.databases if d in server_facts.existing_databases(conn)],
                [nova.compute_binary])
        if not registered:
            self.report.add("computes", OK, nova.compute_binary,
                            "no compute service registered on the old side")
            return
        for finding in judge_computes(registered, self.inv.release.to,
                                      nova.compute_versions, binary=nova.compute_binary):
            self.report.add("computes", finding.severity, finding.host, finding.message,
                            finding.advice)
        declared = ({self.inv.computes.nova_host(n) for n in self.inv.computes.nodes}
                    if self.inv.computes else set())
        bus_moves = self.inv.old.broker is not None and self.inv.new.broker is not None
        for host in undeclared_computes(registered, declared):
            self.report.add(
                "computes", BLOCKER if bus_moves else WARNING, host,
                f"{nova.compute_binary} is registered on this host, which computes.nodes "
                "does not name (by nova_host): at cutover it would not follow the new "
                "control plane's bus, and sbs computes upgrade would not reach it",
                "add it to computes.nodes, or delete its service record if it is gone")

    def _new_database_host(self) -> Host | None:
        address = self.inv.new.database.host
        for name, model in self.inv.hosts.items():
            if model.address == address and name not in self.unreachable:
                return self.hosts(name)
        if address in ("localhost", "::1") or address.startswith("127."):
            return connect(HostSpec(name=f"new-database {address}", transport="local"))
        return None

    def disk(self) -> None:
        if not (self.db_ok.get("old") and self.db_ok.get("new")):
            return
        names = databases_of(self.inv.ordered_services)
        with server_facts.probe_session(self.inv.old.database, "old.database") as conn:
            sizes = server_facts.database_sizes(conn, names)
        with server_facts.probe_session(self.inv.new.database, "new.database") as conn:
            datadir = server_facts.server_facts(conn).datadir
        total = sum(sizes.values())
        subject = f"new database {self.inv.new.database.host}:{datadir}"
        host = self._new_database_host()
        if host is None:
            self.report.add("disk", WARNING, subject,
                            f"databases total {_size(total)}; no inventory host has address "
                            f"{self.inv.new.database.host}, so its free disk is unknown")
            return
        result = host.run(["df", "-Pk", datadir], timeout=PROBE_TIMEOUT, check=False)
        free = _df_available(result.stdout)
        if result.returncode != 0 or free is None:
            self.report.add("disk", WARNING, subject, f"`df -Pk {datadir}` failed: "
                            f"{result.stderr.strip()[-200:]}")
            return
        message = (f"{_size(free)} free for {_size(total)} of databases "
                   f"({', '.join(f'{k} {_size(v)}' for k, v in sizes.items())})")
        if free < total:
            self.report.add("disk", BLOCKER, subject, message, "free disk on the new "
                            "database server before copying")
        elif free < total * DISK_MARGIN:
            self.report.add("disk", WARNING, subject, message + f"; less than "
                            f"{DISK_MARGIN:g}x the data (room for migrations)")
        else:
            self.report.add("disk", OK, subject, message)

    def _capacity(self, name: str) -> tuple[int, int] | None:
        result = self.hosts(name).run(
            ["sh", "-c", "nproc; sed -n 's/^MemTotal: *\\([0-9]*\\) kB/\\1/p' /proc/meminfo"],
            timeout=PROBE_TIMEOUT, check=False)
        numbers = [int(w) for w in result.stdout.split() if w.isdigit()]
        if result.returncode != 0 or len(numbers) < 2:
            self.report.add("capacity", WARNING, name, "cannot read nproc / MemTotal")
            return None
        return numbers[0], numbers[1] * 1024

    def capacity(self) -> None:
        old = [c for c in (self._capacity(n) for n in self._reachable(self.inv.old.controllers))
               if c]
        if not old:
            return
        old_cpus = max(c[0] for c in old)
        old_mem = max(c[1] for c in old)
        for name in self._reachable(self.inv.new.controllers):
            cap = self._capacity(name)
            if cap is None:
                continue
            cpus, mem = cap
            message = (f"{cpus} CPUs, {_size(mem)} memory (old: {old_cpus} CPUs, "
                       f"{_size(old_mem)})")
            if cpus < old_cpus or mem < old_mem * MEMORY_TOLERANCE:
                self.report.add("capacity", WARNING, name, message,
                                "a new release usually needs more than the old one, not less")
            else:
                self.report.add("capacity", OK, name, message)

    def packages(self) -> None:
        """The target (and via) releases' code imports on every new controller."""
        target = self.inv.release.to
        path = self.inv.release.path
        probed: dict[tuple[str, str], dict[str, Any]] = {}
        for host_name in self._reachable(self.inv.new.controllers):
            host = self.hosts(host_name)
            for svc in self.inv.ordered_services:
                info = service(svc)
                control = self.inv.new.services.get(svc)
                if info.package is None or control is None:
                    continue
                wanted = path if info.db_sync else [target]
                for rel in wanted:
                    bin_dir = control.bin_dir_for(rel)
                    subject = f"{host_name} {svc} {rel} ({bin_dir})"
                    key = (host_name, bin_dir)
                    argv = [f"{bin_dir.rstrip('/')}/python3", "-c", _PACKAGE_PROBE,
                            info.package.distribution, info.package.module]
                    result = host.run(argv, timeout=PROBE_TIMEOUT, check=False)
                    data = _last_json(result.stdout)
                    if data is None:
                        self.report.add("package", BLOCKER, subject,
                                        f"`{bin_dir}/python3` cannot run: "
                                        f"{(result.stderr or result.stdout).strip()[-300:]}")
                        continue
                    if "error" in data:
                        self.report.add("package", BLOCKER, subject,
                                        f"{info.package.module} does not import: "
                                        f"{data['error']}")
                        continue
                    version = str(data.get("version", "?"))
                    major = info.package.majors.get(rel)
                    if major is not None and not version.startswith(f"{major}."):
                        self.report.add("package", BLOCKER, subject,
                                        f"{info.package.distribution} {version} is installed; "
                                        f"{rel} is {major}.x",
                                        "install the right release, or set "
                                        f"new.services.{svc}.release_bin_dirs.{rel!r}")
                    else:
                        self.report.add("package", OK, subject,
                                        f"{info.package.distribution} {version}")
                    if key not in probed:
                        probed[key] = data
                        py = data.get("python") or [0, 0]
                        severity, message = python_finding(rel, (int(py[0]), int(py[1])))
                        self.report.add("python", severity, f"{host_name} {bin_dir}", message)

    def db_sync_state(self) -> None:
        """The old databases are fully migrated for their own release: an expand
        without its contract would be carried into the copy."""
        old_ctl = self._reachable(self.inv.old.controllers[:1])
        if not old_ctl:
            return
        host = self.hosts(old_ctl[0])
        for svc in self.inv.ordered_services:
            info = service(svc)
            check = next((s for s in info.db_sync if s.dispatch), None)
            control = self.inv.old.services.get(svc)
            if check is None or control is None:
                continue
            argv = render(check.run, {"bin": control.bin_dir_for(self.inv.release.from_)
                                      .rstrip("/"), "etc": self._etc(old_ctl[0])})
            subject = f"{old_ctl[0]} {svc} ({self.inv.release.from_})"
            try:
                result = host.run(argv, timeout=CHECK_TIMEOUT, check=False)
            except SbsError as exc:
                self.report.add("db_sync", WARNING, subject, f"cannot run the check: "
                                f"{exc.message}")
                continue
            outcome = read_check(check, result.returncode, result.stdout + result.stderr)
            if outcome.current:
                self.report.add("db_sync", OK, subject, f"`{check.name}`: up to date")
            elif outcome.next_stage:
                self.report.add("db_sync", BLOCKER, subject,
                                f"the old database itself needs `{outcome.next_stage}` "
                                f"(exit {result.returncode} of `{display(argv)}`)",
                                "finish the old release's own db_sync first")
            else:
                tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
                self.report.add("db_sync", WARNING, subject,
                                f"`{display(argv)}` exited {result.returncode}: "
                                + redact(" | ".join(tail)))

    def catalog(self) -> None:
        if "keystone" not in self.inv.services or not self.db_ok.get("old"):
            return
        with server_facts.probe_session(self.inv.old.database, "old.database") as conn:
            if "keystone" not in server_facts.existing_databases(conn):
                self.report.add("catalog", WARNING, "old keystone database",
                                "not found on the old server")
                return
            entries = keystone_catalog(conn)
        findings = match_catalog(entries, self.inv.release.from_, self.inv.release.to)
        for f in findings:
            self.report.add("removed-api", f.severity, f.subject, f.message, f.advice)
        if not findings:
            self.report.add("removed-api", OK, f"keystone catalog ({len(entries)} entries)",
                            "no API the target release removed")

    def configs(self) -> None:
        old_ctl = self._reachable(self.inv.old.controllers[:1])
        if not old_ctl:
            return
        host = self.hosts(old_ctl[0])
        etc = self._etc(old_ctl[0])
        notes = release_notes()
        files = list(dict.fromkeys((f.service, f.file) for f in notes.removed_options
                                   if f.service in self.inv.services))
        checked = 0
        for svc, file in files:
            path = f"{etc}/{file}"
            if not host.exists(path):
                continue
            checked += 1
            options = parse_ini_options(host.read_file(path).decode("utf-8", "replace"))
            for f in match_options(svc, file, options, self.inv.release.from_,
                                   self.inv.release.to, notes):
                self.report.add("removed-option", f.severity, f"{old_ctl[0]} {f.subject}",
                                f.message, f.advice)
        if not any(r.check == "removed-option" for r in self.report.results):
            self.report.add("removed-option", OK, f"{old_ctl[0]} ({checked} config files)",
                            "no driver or plugin the target release removed")

    def haproxy(self) -> None:
        """Every node declares every backend and server of the inventory, and uses the
        write-freeze map of the read-only window: found now rather than mid-cutover."""
        model = self.inv.ha.haproxy
        if model is None:
            return
        for node_model in model.nodes:
            if node_model.host in self.unreachable:
                continue
            root = self.inv.hosts[node_model.host].root
            node = HaproxyNode.on_host(self.hosts(node_model.host),
                                       rooted(root, node_model.socket))
            try:
                node.command("show info")
            except HaproxyUnreachable as exc:
                # prepare itself does not need HAProxy; the cutover will
                self.report.add("haproxy", WARNING, node_model.host, exc.message,
                                "make the admin socket reachable before the cutover")
                continue
            problems = 0
            for svc, backend in model.backends.items():
                try:
                    node.servers(backend.backend, [*backend.old, *backend.new])
                except SbsError as exc:
                    problems += 1
                    self.report.add("haproxy", BLOCKER, f"{node_model.host} {svc}",
                                    exc.message, "declare the old and new servers of every "
                                    "backend (ha/haproxy.cfg.j2)")
            if model.write_freeze is not None:
                map_file = rooted(root, model.write_freeze.map)
                try:
                    frozen = node.map_entries(map_file)
                except SbsError as exc:
                    problems += 1
                    self.report.add(
                        "haproxy", BLOCKER, f"{node_model.host} write freeze", exc.message,
                        "add the write-freeze rules of ha/haproxy.cfg.j2 to every backend "
                        "and create the (empty) map file, or remove ha.haproxy.write_freeze")
                else:
                    if frozen:
                        self.report.add(
                            "haproxy", WARNING, f"{node_model.host} write freeze",
                            f"writes are refused now for {', '.join(sorted(frozen))}",
                            "an interrupted cutover? `sbs cutover` resumes, `sbs rollback` "
                            "reopens writes")
            if not problems:
                self.report.add("haproxy", OK, node_model.host,
                                f"{len(model.backends)} backends with old and new servers"
                                + (", write-freeze map in use" if model.write_freeze else ""))

    def token_issue(self) -> None:
        """A read-only window keeping keystone's token issue open is safe only when
        issuing a token writes nothing (no lockout or inactivity tracking)."""
        model = self.inv.ha.haproxy
        if (model is None or model.write_freeze is None
                or not model.write_freeze.allow_token_issue
                or "keystone" not in self.inv.services):
            return
        old_ctl = self._reachable(self.inv.old.controllers[:1])
        if not old_ctl:
            return
        path = f"{self._etc(old_ctl[0])}/keystone/keystone.conf"
        host = self.hosts(old_ctl[0])
        if not host.exists(path):
            return
        options = parse_ini_options(host.read_file(path).decode("utf-8", "replace"))
        writes = token_issue_writes(options)
        if writes:
            self.report.add(
                "token-issue", BLOCKER, f"{old_ctl[0]} keystone.conf",
                f"issuing a token writes keystone's database ({'; '.join(writes)}), so the "
                "read-only window cannot keep it open",
                "set ha.haproxy.write_freeze.allow_token_issue: false")
        else:
            self.report.add(
                "token-issue", WARNING, f"{old_ctl[0]} keystone.conf",
                "logins stay open in the read-only window; a failed password login writes "
                "keystone's local_user.failed_auth_count, which stops the cutover before "
                "the switch (the old databases must not change)",
                "keep allow_token_issue only when no failed logins are expected (scripts "
                "with stale passwords?)")

    def run(self) -> PreflightReport:
        started = time.monotonic()
        self.guarded("release", self.release_path, BLOCKER)
        self.guarded("host", self.hosts_reachable, BLOCKER)
        self.guarded("database", self.databases_reachable, BLOCKER)
        self.guarded("sides", self.sides, BLOCKER)
        self.guarded("bus", self.bus, BLOCKER)
        self.guarded("computes", self.computes, BLOCKER)
        self.guarded("disk", self.disk)
        self.guarded("capacity", self.capacity)
        self.guarded("package", self.packages, BLOCKER)
        self.guarded("db_sync", self.db_sync_state)
        self.guarded("removed-api", self.catalog)
        self.guarded("removed-option", self.configs)
        self.guarded("haproxy", self.haproxy, BLOCKER)
        self.guarded("token-issue", self.token_issue)
        self.report.seconds = time.monotonic() - started
        return self.report


def keystone_catalog(conn: ReadOnlySession, database: str = "keystone"
                     ) -> list[CatalogEntry]:
    """Enabled services and their endpoints, from the keystone database."""
    quoted = "`" + database.replace("`", "``") + "`"
    rows = conn.query(
        f"SELECT s.type, s.extra, e.interface, e.url FROM {quoted}.service s "
        f"LEFT JOIN {quoted}.endpoint e ON e.service_id = s.id "
        "WHERE s.enabled = 1")
    entries = []
    for service_type, extra, interface, url in rows:
        try:
            name = str(json.loads(extra or "{}").get("name", ""))
        except (ValueError, AttributeError):
            name = ""
        entries.append(CatalogEntry(service_type=text_of(service_type), service_name=name,
                                    interface=text_of(interface or ""),
                                    url=text_of(url or "")))
    return entries


def token_issue_writes(options: dict[tuple[str, str], str]) -> list[str]:
    """Pure: the keystone.conf settings that make token issue write, as `[s] o = v`
    (which ones: the catalog's keystone api.token_issue_writes_under)."""
    found = []
    for section, option in service("keystone").token_issue_writes_under:
        value = options.get((section, option), "").strip()
        if value and value not in ("0", "<None>"):
            found.append(f"[{section}] {option} = {value}")
    return found


def parse_ini_options(text: str) -> dict[tuple[str, str], str]:
    """`(section, option) -> value` of an oslo.config INI file, read by config.ini as
    the service reads it (DEFAULT is an ordinary section; a repeated key keeps its last
    value; options lower-case); {} for a file oslo.config would refuse. Pure."""
    try:
        document = Document.parse(text, strict=True)
    except InputError:
        return {}
    return {(section.name or "", entry.key.lower()): entry.value
            for section, entry in document.iter_entries()}


def _df_available(stdout: str) -> int | None:
    lines = stdout.strip().splitlines()
    if len(lines) < 2:
        return None
    words = lines[-1].split()
    try:
        return int(words[3]) * 1024
    except (IndexError, ValueError):
        return None


def _last_json(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            return data
    return None


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def run_preflight(env: Any, *, hosts: HostFactory | None = None,
                  log: LogSink | None = None) -> PreflightReport:
    """Every pre-flight check of `env` (an Environment, or an Inventory).

    `hosts` maps an inventory host name to a Host (default: the inventory's own
    transports, through Hosts, closed before returning). Returns the report; never
    raises for what it finds (call `report.raise_if_blocked()` for exit code 3).
    Raises InputError only for a broken catalog template.
    """
    inv: Inventory = getattr(env, "inventory", env)
    sink = log or (lambda line: None)
    if hosts is not None:
        return _Preflight(inv, hosts, sink).run()
    with Hosts(inv) as own:
        return _Preflight(inv, own, sink).run()
