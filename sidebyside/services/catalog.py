"""The service catalog: per OpenStack service, its databases, package and release
majors, upgrade commands and API facts (port, check path, which requests write).

(Config files, key repositories and option namespaces are the config package's
data: sidebyside/config/services.yaml.)

Knowledge lives in `catalog.yaml` beside this module; this module only gives it
types. The upgrade order is fixed here and enforced by the planner.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import yaml

SERVICE_ORDER: tuple[str, ...] = (
    "keystone", "glance", "placement", "nova", "neutron", "cinder", "horizon", "heat",
)


DEFAULT_STAGE_TIMEOUT = 1800.0


@dataclass(frozen=True)
class SyncCommand:
    """One db_sync stage. `ok_codes` are exit codes that count as success;
    `until_rc`/`more_codes` describe commands re-run while they report more work
    (online data migrations); `dispatch` makes the stage a check whose exit code
    names the stage to run next (0 = up to date); `fallback` is the one-shot sync
    of releases that lack that check."""

    name: str
    run: str
    ok_codes: tuple[int, ...] = (0,)
    until_rc: int | None = None
    more_codes: tuple[int, ...] = ()
    max_rounds: int = 1
    dispatch: dict[int, str] = field(default_factory=dict, hash=False)
    fallback: str | None = None
    timeout: float = DEFAULT_STAGE_TIMEOUT


@dataclass(frozen=True)
class PackageInfo:
    """How the service is installed: its PyPI distribution, importable module and
    the distribution's major version in each release (empty: not checked)."""

    distribution: str
    module: str
    majors: dict[str, int] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class BackgroundWrites:
    """What a service's own processes write in one of its tables while the cloud is
    idle (heartbeats, service records): changes confined to `columns`, plus new rows
    when `new_rows` (a process registering) and removed rows when `deleted_rows`. Any
    other change of the table is a user's write."""

    table: str
    columns: tuple[str, ...]
    new_rows: bool = False
    deleted_rows: bool = False


@dataclass(frozen=True)
class AssetCommand:
    """A command that builds what a service serves from its new release's code and the
    carried settings (horizon's static files): `{bin}` is the release's bin directory,
    `{share}` the controller's /usr/share/openstack-dashboard (rooted)."""

    name: str
    run: str
    timeout: float = DEFAULT_STAGE_TIMEOUT


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    databases: tuple[str, ...]
    db_sync: tuple[SyncCommand, ...]
    status_check: str | None = None
    # {python} in status_check: the interpreter of this script of {bin} (its shebang);
    # {script}: status_check_script.
    status_check_interpreter_of: str | None = None
    status_check_script: str | None = None
    api_port: int | None = None
    api_check: str | None = None
    # what a direct check of one API server GETs (any answer below 500 passes)
    api_check_path: str = "/"
    # (section, option) of its config under which issuing a token writes the database
    token_issue_writes_under: tuple[tuple[str, str], ...] = ()
    # Its old API can keep serving reads during cutover's read-only window.
    serves_reads_while_frozen: bool = False
    package: PackageInfo | None = None
    # Its processes that consume RPC queues (conductor, scheduler, engine, agents);
    # empty for API-only services, which only call out over the bus.
    rpc_workers: tuple[str, ...] = ()
    # the tables its own processes write in the background (any of its databases
    # that has the table)
    background_writes: tuple[BackgroundWrites, ...] = ()
    # run on every new controller once its configuration is carried (prepare)
    static_assets: tuple[AssetCommand, ...] = ()
    # the binary of its compute service in its `services` tables, and the service
    # version that code records there in each release (nova-compute)
    compute_binary: str | None = None
    compute_versions: dict[str, int] = field(default_factory=dict, hash=False)
    # the db_sync stages `sbs finalize` runs again once every node runs the new release
    # (the online data migrations, the checks that run a pending contract)
    finalize_stages: tuple[str, ...] = ()

    @property
    def dispatched_stages(self) -> frozenset[str]:
        """Stages that run only when a check dispatches to them."""
        return frozenset(name for s in self.db_sync for name in s.dispatch.values())


@cache
def catalog() -> dict[str, ServiceInfo]:
    raw = yaml.safe_load(resources.files("sidebyside.services").joinpath(
        "catalog.yaml").read_text())
    result: dict[str, ServiceInfo] = {}
    for name in SERVICE_ORDER:
        entry = raw[name]
        stage_names = {s["name"] for s in entry.get("db_sync", [])}
        unknown = set(entry.get("finalize") or []) - stage_names
        if unknown:
            raise ValueError(f"catalog.yaml {name}.finalize names no db_sync stage: "
                             f"{sorted(unknown)}")
        syncs = tuple(
            SyncCommand(name=s["name"], run=s["run"], ok_codes=tuple(s.get("ok_codes", [0])),
                        until_rc=s.get("until_rc"), more_codes=tuple(s.get("more_codes", [])),
                        max_rounds=int(s.get("max_rounds", 1)),
                        dispatch={int(k): str(v) for k, v in (s.get("dispatch") or {}).items()},
                        fallback=s.get("fallback"),
                        timeout=float(s.get("timeout", DEFAULT_STAGE_TIMEOUT)))
            for s in entry.get("db_sync", []))
        api = entry.get("api") or {}
        pkg = entry.get("package")
        package = PackageInfo(
            distribution=pkg["distribution"], module=pkg["module"],
            majors={str(k): int(v) for k, v in (pkg.get("majors") or {}).items()},
        ) if pkg else None
        result[name] = ServiceInfo(
            name=name,
            databases=tuple(entry.get("databases", [])),
            db_sync=syncs,
            status_check=entry.get("status_check"),
            status_check_interpreter_of=entry.get("status_check_interpreter_of"),
            status_check_script=entry.get("status_check_script"),
            api_port=api.get("port"),
            api_check=api.get("check"),
            api_check_path=str(api.get("check_path", "/")),
            token_issue_writes_under=tuple((str(section), str(option)) for section, option
                                           in api.get("token_issue_writes_under", [])),
            serves_reads_while_frozen=bool(api.get("serves_reads_while_frozen", False)),
            package=package,
            rpc_workers=tuple(str(w) for w in entry.get("rpc_workers", [])),
            background_writes=tuple(
                BackgroundWrites(table=str(table), columns=tuple(str(c) for c in t["columns"]),
                                 new_rows=bool(t.get("new_rows", False)),
                                 deleted_rows=bool(t.get("deleted_rows", False)))
                for table, t in (entry.get("background_writes") or {}).items()),
            static_assets=tuple(
                AssetCommand(name=str(a["name"]), run=str(a["run"]),
                             timeout=float(a.get("timeout", DEFAULT_STAGE_TIMEOUT)))
                for a in entry.get("static_assets") or []),
            compute_binary=(entry.get("compute_service") or {}).get("binary"),
            compute_versions={str(k): int(v) for k, v in
                              ((entry.get("compute_service") or {}).get("versions")
                               or {}).items()},
            finalize_stages=tuple(str(n) for n in entry.get("finalize") or []),
        )
    return result


def service(name: str) -> ServiceInfo:
    """Raises KeyError for an unknown service."""
    return catalog()[name]


def databases_of(services: list[str]) -> list[str]:
    return [db for s in services for db in service(s).databases]


def api_check_paths() -> dict[str, str]:
    """Service name -> the path a direct check of one of its API servers GETs."""
    return {name: info.api_check_path for name, info in catalog().items()}


def background_writes_of(databases: Iterable[str]) -> dict[str, BackgroundWrites]:
    """'database.table' -> what the owning service's processes write there in the
    background, for those of `databases` the catalog knows (tables of the others are
    all user data)."""
    wanted = set(databases)
    return {f"{database}.{writes.table}": writes
            for info in catalog().values() for database in info.databases
            if database in wanted for writes in info.background_writes}
