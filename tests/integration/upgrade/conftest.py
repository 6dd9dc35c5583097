"""Fixtures of the service-upgrade tests: two real MariaDB servers (the old and the new
controller's), the services' real releases in venvs built from the lab's locks, and
helpers to create, copy and checksum databases.

The venvs are cached under ~/.cache/sbs (SBS_CACHE_DIR), so only the first run pays
for `uv pip install`.
"""

from __future__ import annotations

import hashlib
import shlex
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sidebyside.db.mariadb_server import MariaDBServer
from sidebyside.lab.lockfiles import default_cache_root
from sidebyside.lab.venvs import Venv, ensure_venv
from tests.conftest import start_mariadb


@dataclass
class DbServer:
    """A started MariaDBServer and what a service config needs to reach it."""

    server: MariaDBServer
    option_file: Path
    password_file: Path
    created: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    def url(self, database: str) -> str:
        return (f"mysql+pymysql://root:{self.server.root_password}@{self.host}:{self.port}/"
                f"{database}?charset=utf8mb4")

    def execute(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        conn = self.server.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                rows = list(cur.fetchall())
            conn.commit()
            return rows
        finally:
            conn.close()

    def create(self, *names: str) -> None:
        for name in names:
            self.execute(f"DROP DATABASE IF EXISTS `{name}`")
            self.execute(f"CREATE DATABASE `{name}`")
            self.created.append(name)

    def checksum(self, database: str) -> str:
        """CHECKSUM TABLE of every table plus its definition: any write or DDL shows."""
        conn = self.server.connect(database)
        digest = hashlib.sha256()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT table_name FROM information_schema.tables "
                            "WHERE table_schema = %s ORDER BY table_name", (database,))
                tables = [row[0] for row in cur.fetchall()]
                assert tables, f"{database} has no tables"
                cur.execute("CHECKSUM TABLE " + ", ".join(f"`{t}`" for t in tables))
                for name, value in cur.fetchall():
                    digest.update(f"{name}={value};".encode())
                for table in tables:
                    cur.execute(f"SHOW CREATE TABLE `{table}`")
                    digest.update(str(cur.fetchone()[1]).encode())
        finally:
            conn.close()
        return digest.hexdigest()

    def alembic_versions(self, database: str) -> set[str]:
        return {row[0] for row in self.execute(f"SELECT version_num FROM "
                                               f"`{database}`.alembic_version")}


def start_db_server(base: Path, name: str) -> DbServer:
    server = start_mariadb(base / name, name=name)
    option_file = base / f"{name}.cnf"
    option_file.write_text(f"[client]\nhost={server.host}\nport={server.port}\nuser=root\n"
                           f"password={server.root_password}\n")
    option_file.chmod(0o600)
    password_file = base / f"{name}.password"
    password_file.write_text(server.root_password + "\n")
    password_file.chmod(0o600)
    return DbServer(server, option_file, password_file)


@pytest.fixture(scope="session")
def db_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DbServer, DbServer]]:
    """(old, new) MariaDB servers on their own loopback addresses, stopped by PID after."""
    base = tmp_path_factory.mktemp("upgrade-db")
    old = start_db_server(base, "old-db")
    try:
        new = start_db_server(base, "new-db")
    except BaseException:
        old.server.stop()
        raise
    try:
        yield old, new
    finally:
        new.server.stop()
        old.server.stop()


@pytest.fixture(scope="session")
def venv() -> Callable[[str, str], Venv]:
    """`venv(service, release)`: the release's venv, built once and cached."""
    cache = default_cache_root()

    def get(service: str, release: str) -> Venv:
        return ensure_venv(service, release, cache)
    return get


def copy_databases(old: DbServer, new: DbServer, names: list[str]) -> None:
    """mariadb-dump | mariadb: the plain copy a test needs (not sbs's copier)."""
    dump = subprocess.Popen(
        ["mariadb-dump", f"--defaults-extra-file={old.option_file}", "--single-transaction",
         "--routines", "--triggers", "--databases", *names],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    load = subprocess.run(["mariadb", f"--defaults-extra-file={new.option_file}"],
                          stdin=dump.stdout, capture_output=True, timeout=300)
    assert dump.stdout is not None
    dump.stdout.close()
    dump_err = dump.communicate(timeout=300)[1]
    assert dump.returncode == 0, dump_err.decode()
    assert load.returncode == 0, load.stderr.decode()
    new.created.extend(names)


def write_ini(path: Path, sections: dict[str, dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for section, options in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {value}" for key, value in options.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def run_tool(argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a service's own tool (setting up the OLD side), failing the test loudly."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (f"{shlex.join(argv)} exited {result.returncode}:\n"
                                    f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return result


class Timings:
    """Durations the tests measured, printed at the end of the session (-s or -rA)."""

    rows: list[tuple[str, float]] = []

    @classmethod
    def record(cls, what: str, seconds: float) -> None:
        cls.rows.append((what, seconds))
        print(f"\n[timing] {what}: {seconds:.1f}s")


@pytest.fixture(scope="session")
def timed() -> Callable[[str], Any]:
    """`with timed("what"):` records how long the block took (session-wide table)."""
    class _Timer:
        def __init__(self, what: str) -> None:
            self.what = what

        def __enter__(self) -> _Timer:
            self.started = time.monotonic()
            return self

        def __exit__(self, *exc: object) -> None:
            self.seconds = time.monotonic() - self.started
            Timings.record(self.what, self.seconds)
    return _Timer


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if Timings.rows:
        terminalreporter.section("service upgrade timings")
        for what, seconds in Timings.rows:
            terminalreporter.write_line(f"{seconds:7.1f}s  {what}")


def make_inventory(tmp: Path, old: DbServer, new: DbServer, *, release: tuple[str, str],
                   services: dict[str, tuple[str, str]], environment: str = "upgrade-test",
                   extra_hosts: dict[str, dict[str, Any]] | None = None,
                   via: list[str] | None = None,
                   release_bin_dirs: dict[str, dict[str, str]] | None = None) -> Any:
    """An inventory of two local controllers (each with its own root under `tmp`) and
    the two test servers, written to `tmp/inventory.yaml` and loaded from there.
    `services`: name -> (old bin dir, new bin dir); `release_bin_dirs`: name ->
    {release: bin dir} of the new controller (fast-forward through `via`)."""
    import yaml

    from sidebyside.inventory import load_inventory

    ff_bins = release_bin_dirs or {}

    def side(db: DbServer, which: int) -> dict[str, Any]:
        return {
            "controllers": [f"{('old', 'new')[which]}-ctl1"],
            "database": {"host": db.host, "port": db.port, "user": "root",
                         "password_file": str(db.password_file)},
            "cloud": f"{('old', 'new')[which]}-cloud",
            "services": {name: {"stop": "true", "start": "true", "bin_dir": bins[which],
                                **({"release_bin_dirs": ff_bins[name]}
                                   if which == 1 and name in ff_bins else {})}
                         for name, bins in services.items()},
        }

    data = {
        "environment": environment,
        "release": {"from": release[0], "to": release[1], **({"via": via} if via else {})},
        "services": list(services),
        "hosts": {
            "old-ctl1": {"address": old.host, "transport": "local",
                         "root": str(tmp / "old-ctl1")},
            "new-ctl1": {"address": new.host, "transport": "local",
                         "root": str(tmp / "new-ctl1")},
            "lb1": {"address": "127.0.0.1", "transport": "local"},
            **(extra_hosts or {}),
        },
        "old": side(old, 0),
        "new": side(new, 1),
        "ha": {"haproxy": {"nodes": [{"host": "lb1"}], "backends": {
            name: {"backend": f"{name}_api", "old": ["old-ctl1"], "new": ["new-ctl1"]}
            for name in services if name != "horizon"}}},
    }
    path = tmp / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_inventory(path, check_secrets=True)
