"""nova with cells, 2024.1 -> 2025.1 (two schema migrations of the cell databases).

The old side is built by the old release's own nova-manage: api_db sync, map_cell0,
create_cell with the OLD database and broker URLs, db sync. Its databases are copied
to the new server. Then:

- the trap: without `update_cell_mappings`, the new release's `db sync` migrates the
  OLD cell0 database through the copied mapping (its checksum changes);
- the fix: with it, every cell names the new server and the old databases' checksums
  are unchanged after the whole run_db_sync.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sidebyside.actions.context import ActionContext
from sidebyside.actions.upgrade import CellMappingsAction, DbSyncChainsAction
from sidebyside.engine.executor import Executor, StepContext
from sidebyside.engine.journal import Journal, StepStatus
from sidebyside.plan.builder import build_plan
from sidebyside.plan.model import Plan
from sidebyside.remote.factory import rooted
from sidebyside.remote.local import LocalHost
from tests.integration.upgrade.conftest import (
    DbServer,
    copy_databases,
    make_inventory,
    run_tool,
    write_ini,
)

pytestmark = pytest.mark.integration

OLD_RELEASE, NEW_RELEASE = "2024.1", "2025.1"
DATABASES = ["nova_api", "nova", "nova_cell0"]
OLD_BROKER = "rabbit://nova:brokerpw@old-ctl1.example:5672/"
NEW_BROKER = "rabbit://nova:brokerpw@new-ctl1.example:5672/"


def _nova_etc(root: Path, db: DbServer, broker: str) -> Path:
    etc = root / "etc"
    write_ini(etc / "nova" / "nova.conf", {
        "DEFAULT": {"transport_url": broker},
        "api_database": {"connection": db.url("nova_api")},
        "database": {"connection": db.url("nova")},
    })
    return etc


@dataclass
class OldNova:
    etc: Path
    dump: Path


@pytest.fixture(scope="module")
def old_nova_dump(db_servers: tuple[DbServer, DbServer], venv: Any,
                  tmp_path_factory: pytest.TempPathFactory) -> OldNova:
    """The old side's nova databases, made by nova 2024.1, saved as a dump."""
    old_db, _ = db_servers
    root = tmp_path_factory.mktemp("old-ctl1")
    etc = _nova_etc(root, old_db, OLD_BROKER)
    old_db.create(*DATABASES)
    manage = [str(venv("nova", OLD_RELEASE).bin / "nova-manage"), "--config-file",
              str(etc / "nova" / "nova.conf")]
    run_tool([*manage, "api_db", "sync"])
    run_tool([*manage, "cell_v2", "map_cell0", "--database_connection",
              old_db.url("nova_cell0")])
    run_tool([*manage, "cell_v2", "create_cell", "--name", "cell1", "--database_connection",
              old_db.url("nova"), "--transport-url", OLD_BROKER])
    run_tool([*manage, "db", "sync"])
    dump = root / "old-nova.sql"
    with open(dump, "wb") as out:
        subprocess.run(["mariadb-dump", f"--defaults-extra-file={old_db.option_file}",
                        "--single-transaction", "--databases", *DATABASES],
                       stdout=out, check=True, timeout=300)
    return OldNova(etc=etc, dump=dump)


@pytest.fixture
def side_by_side(db_servers: tuple[DbServer, DbServer], old_nova_dump: OldNova,
                 tmp_path: Path) -> Iterator[Path]:
    """A pristine old side (restored from the dump) copied to the new server; yields
    the new controller's /etc whose nova.conf names the new server and broker."""
    old_db, new_db = db_servers
    with open(old_nova_dump.dump, "rb") as dump:
        subprocess.run(["mariadb", f"--defaults-extra-file={old_db.option_file}"],
                       stdin=dump, check=True, timeout=300)
    for name in DATABASES:
        new_db.execute(f"DROP DATABASE IF EXISTS `{name}`")
    copy_databases(old_db, new_db, DATABASES)
    # where make_inventory(tmp_path) puts the new controller's /etc
    yield _nova_etc(tmp_path / "new-ctl1", new_db, NEW_BROKER)


def _checksums(db: DbServer) -> dict[str, str]:
    return {name: db.checksum(name) for name in DATABASES}


def test_without_the_cell_step_the_new_release_migrates_the_old_cell0(
        db_servers: tuple[DbServer, DbServer], venv: Any, side_by_side: Path) -> None:
    old_db, new_db = db_servers
    before = _checksums(old_db)
    old_cell0_version = old_db.alembic_versions("nova_cell0")
    new_bin = venv("nova", NEW_RELEASE).bin
    run_tool([str(new_bin / "nova-manage"), "--config-file",
              str(side_by_side / "nova" / "nova.conf"), "db", "sync"])
    after = _checksums(old_db)
    # the copied mapping sent the new nova-manage to the OLD cell0 database
    assert after["nova_cell0"] != before["nova_cell0"]
    assert old_db.alembic_versions("nova_cell0") != old_cell0_version
    # while the new server's cell0 was left behind
    assert new_db.alembic_versions("nova_cell0") == old_cell0_version


def test_cell_mappings_first_keep_the_old_databases_untouched(
        db_servers: tuple[DbServer, DbServer], venv: Any, side_by_side: Path,
        tmp_path: Path, timed: Callable[[str], Any]) -> None:
    """The plan's own steps (cell mappings, then db_sync) through the executor."""
    old_db, new_db = db_servers
    before = _checksums(old_db)
    old_versions = {name: old_db.alembic_versions(name) for name in ("nova", "nova_cell0")}
    inv = make_inventory(tmp_path, old_db, new_db, release=(OLD_RELEASE, NEW_RELEASE),
                         services={"nova": (str(venv("nova", OLD_RELEASE).bin),
                                            str(venv("nova", NEW_RELEASE).bin))})
    assert Path(rooted(inv.hosts["new-ctl1"].root, "/etc")) == side_by_side
    plan = build_plan(inv, "prepare")
    steps = tuple(s for s in plan.steps if s.action == "db_sync_chains")
    assert [s.params["services"] for s in steps] == [["nova"]]
    host = LocalHost("new-ctl1")
    context = ActionContext(inv, lambda name: host, tmp_path / "state")
    journal = Journal(tmp_path / "state")
    try:
        with timed(f"nova cell mappings + db_sync {OLD_RELEASE} -> {NEW_RELEASE} (executor)"):
            outcome = Executor(journal, {"db_sync_chains": DbSyncChainsAction(context)}
                               ).execute(Plan("prepare", inv.environment, steps))
        record = journal.step(outcome.run_id, steps[0].id)
        # on resume, the cell mappings are known to be in place
        cell_step = dataclasses.replace(steps[0], service="nova",
                                        params={"release": NEW_RELEASE})
        ctx = StepContext(run_id=outcome.run_id, step=cell_step, journal=journal, options={})
        assert CellMappingsAction(context).verify(cell_step, ctx) is True
    finally:
        journal.close()
    assert record.status is StepStatus.DONE and record.result is not None
    links = record.result["chains"]["nova"]["links"]
    assert [link["stage"] for link in links] == ["cell-mappings", f"db-sync {NEW_RELEASE}"]
    cells, sync = (SimpleNamespace(result=link["result"]) for link in links)
    # the copy named the old server; every cell was moved, cell0 kept its none:/// broker
    assert {c["name"] for c in cells.result["before"]
            if f"@{old_db.host}:{old_db.port}/" in c["database_url"]} == {"cell0", "cell1"}
    after = {c["name"]: c for c in cells.result["after"]}
    assert after["cell0"]["transport_url"] == "none:///"
    assert after["cell0"]["database_url"].endswith(
        f"@{new_db.host}:{new_db.port}/nova_cell0?charset=utf8mb4")
    assert f"@{new_db.host}:{new_db.port}/nova?" in after["cell1"]["database_url"]
    assert after["cell1"]["transport_url"].endswith("@new-ctl1.example:5672/")
    assert [s["name"] for s in sync.result["stages"]] == [
        "api_db_sync", "db_sync", "online_data_migrations"]
    assert sync.result["stages"][-1]["returncodes"][-1] == 0
    # the new cell databases moved on; the old ones did not move at all
    for name in ("nova", "nova_cell0"):
        assert new_db.alembic_versions(name) != old_versions[name]
        assert old_db.alembic_versions(name) == old_versions[name]
    assert _checksums(old_db) == before
    print(f"nova durations: {sync.result['durations']}; cell mappings "
          f"{cells.result['seconds']}s")
