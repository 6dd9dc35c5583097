"""Backups and rollback exports under the state dir are private (0700) on two real
MariaDB servers, even when their directories already existed loose and the umask is 022."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sidebyside.actions.context import ActionContext
from sidebyside.actions.data import (
    CopyAction,
    RecordPositionAction,
    ReportNewWritesAction,
)
from sidebyside.db.backup import backup
from sidebyside.db.endpoint import endpoint_from_inventory
from sidebyside.db.mariadb_server import MariaDBServer
from sidebyside.engine.executor import Executor
from sidebyside.engine.journal import Journal
from sidebyside.errors import StepFailed
from sidebyside.plan.model import Plan
from sidebyside.remote.inventory_hosts import Hosts
from tests.integration.actions.test_data_actions import (  # noqa: F401 - the fixture
    DATABASES,
    inventory,
    servers,
    step,
)

pytestmark = pytest.mark.integration


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_backups_and_rollback_exports_are_private(servers: dict[str, MariaDBServer],  # noqa: F811
                                                  tmp_path: Path) -> None:
    inv = inventory(servers)
    state = tmp_path / "state"
    backup_dir = state / "backups" / "run1"  # where prepare's backup step writes
    for loose in (state, state / "backups", backup_dir, state / "rollback-exports"):
        loose.mkdir(mode=0o755)
        os.chmod(loose, 0o755)
    previous_umask = os.umask(0o022)
    try:
        journal = Journal(state)
        context = ActionContext(inv, Hosts(inv), state)  # the data steps reach no host
        # The databases part of prepare's backup (its configs part needs real controllers).
        backup(endpoint_from_inventory(inv.old.database), DATABASES, backup_dir)
        actions = {"copy_databases": CopyAction(context),
                   "record_position": RecordPositionAction(context),
                   "report_new_writes": ReportNewWritesAction(context)}
        Executor(journal, actions).execute(Plan("prepare", "data", (
            step("prepare.copy-databases", "copy_databases", databases=DATABASES,
                 replace=True),)))
        Executor(journal, actions).execute(Plan("cutover", "data", (
            step("cutover.record-position", "record_position", databases=DATABASES),)))
        with servers["new"].connect() as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO glance.project (name) VALUES ('written-after-cutover')")
            conn.commit()
        with pytest.raises(StepFailed, match="glance.project"):  # refused, exported first
            Executor(journal, actions).execute(Plan("rollback", "data", (
                step("rollback.new-writes", "report_new_writes", databases=DATABASES),)))
    finally:
        os.umask(previous_umask)
    assert mode(state) == 0o700
    backup_dirs = [p for p in (state / "backups").iterdir()]
    export_dirs = [p for p in (state / "rollback-exports").iterdir()]
    assert backup_dirs and export_dirs
    assert mode(state / "rollback-exports") == 0o700
    for top in backup_dirs + export_dirs:
        assert (top / "manifest.json").exists()
        for directory in [top, *(p for p in top.rglob("*") if p.is_dir())]:
            assert mode(directory) == 0o700, directory
        assert mode(top / "accounts.sql.gz") == 0o600
