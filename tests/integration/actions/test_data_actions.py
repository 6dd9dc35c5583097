"""The database steps of prepare/cutover/rollback through the real executor, on two
real MariaDB servers: copy gated by verification, the cutover position, rollback's
refusal to drop new writes, and the proof that the old side was never written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sidebyside.actions.context import ActionContext
from sidebyside.actions.data import (
    BackupAction,
    CopyAction,
    RecordPositionAction,
    ReportNewWritesAction,
    RequireVerifiedCopy,
    VerifyOldUntouchedAction,
)
from sidebyside.db.mariadb_server import MariaDBServer
from sidebyside.engine.executor import Executor
from sidebyside.engine.journal import Journal
from sidebyside.errors import StepFailed
from sidebyside.inventory import parse_inventory
from sidebyside.plan.model import Changes, Plan, Step
from sidebyside.remote.inventory_hosts import Hosts
from tests.conftest import start_mariadb

pytestmark = pytest.mark.integration
DATABASES = ["keystone", "glance"]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, MariaDBServer]]:
    root = tmp_path_factory.mktemp("data-actions")
    started = {}
    try:
        for side in ("old", "new"):  # each on a loopback address of its own
            started[side] = start_mariadb(root / side, name=side)
        with started["old"].connect() as conn, conn.cursor() as cur:
            for name in DATABASES:
                cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
                cur.execute(f"CREATE TABLE {name}.project (id INT AUTO_INCREMENT PRIMARY KEY,"
                            " name VARCHAR(64) NOT NULL, extra TEXT NULL)")
                cur.execute(f"INSERT INTO {name}.project (name, extra) SELECT CONCAT('p', seq),"
                            f" IF(seq % 3 = 0, NULL, REPEAT('x', seq)) FROM {name}.seq_1_to_500")
            conn.commit()
        yield started
    finally:
        for server in started.values():
            server.stop()


def inventory(servers: dict[str, MariaDBServer], old_root: str = "/") -> Any:
    def side(name: str) -> dict[str, Any]:
        server = servers[name]
        return {"controllers": [f"{name}-ctl"], "cloud": f"lab-{name}",
                "database": {"host": server.host, "port": server.port, "user": "root",
                             "password_file": str(server.password_file)},
                "services": {s: {"units": [s]} for s in ("keystone", "glance")}}
    return parse_inventory({
        "environment": "data", "release": {"from": "2025.1", "to": "2026.1"},
        "services": ["keystone", "glance"],
        "hosts": {"old-ctl": {"address": "127.0.0.1", "transport": "local", "root": old_root},
                  "new-ctl": {"address": "127.0.0.2", "transport": "local"}},
        "old": side("old"), "new": side("new"),
        "ha": {"haproxy": {"nodes": [{"host": "old-ctl"}], "backends": {
            s: {"backend": s, "old": ["a"], "new": ["b"]} for s in ("keystone", "glance")}}},
    })


def checksums(server: MariaDBServer) -> dict[str, Any]:
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute("CHECKSUM TABLE keystone.project, glance.project EXTENDED")
        return {row[0]: row[1] for row in cur.fetchall()}


class Sync:
    """Stands in for db_sync: it writes the copied database (like a real migration)."""

    def __init__(self, server: MariaDBServer) -> None:
        self.server = server

    def run(self, step: Step, ctx: Any) -> dict[str, Any]:
        with self.server.connect() as conn, conn.cursor() as cur:
            cur.execute("ALTER TABLE keystone.project ADD COLUMN IF NOT EXISTS "
                        "migrated TINYINT DEFAULT 1")
            conn.commit()
        return {}


def step(id_: str, action: str, **params: Any) -> Step:
    return Step(id=id_, action=action, title=id_, changes=Changes.NEW_SIDE, params=params)


def test_prepare_cutover_rollback_data_steps(servers: dict[str, MariaDBServer],
                                             tmp_path: Path) -> None:
    old_root = tmp_path / "old-ctl"  # the old controller's configs, backed up too
    for path, data in (("etc/keystone/keystone.conf", b"[token]\nexpiration = 7200\n"),
                       ("etc/keystone/fernet-keys/0", b"fernet key 0"),
                       ("etc/glance/glance-api.conf", b"[DEFAULT]\nbind_host = 10.0.0.11\n")):
        (old_root / path).parent.mkdir(parents=True, exist_ok=True)
        (old_root / path).write_bytes(data)
    inv = inventory(servers, str(old_root))
    state = tmp_path / "state"
    hosts = Hosts(inv)
    context = ActionContext(inv, hosts, state)
    journal = Journal(state)
    old_before = checksums(servers["old"])
    actions = {
        "backup": BackupAction(context), "copy_databases": CopyAction(context),
        "db_sync": RequireVerifiedCopy(Sync(servers["new"]), state),
        "record_position": RecordPositionAction(context),
        "report_new_writes": ReportNewWritesAction(context),
        "verify_old_untouched": VerifyOldUntouchedAction(context),
    }
    prepare = Plan("prepare", "data", (
        step("prepare.backup", "backup", databases=DATABASES),
        step("prepare.copy-databases", "copy_databases", databases=DATABASES, replace=True),
        step("prepare.db-sync.2026.1.keystone", "db_sync"),
    ))
    Executor(journal, actions).execute(prepare)
    run = journal.latest_run("prepare")
    backup_result = journal.step(run.id, "prepare.backup").result
    assert backup_result["restore_test"]["rows"] == 1000
    configs = backup_result["configs"]
    assert configs["controllers"] == ["old-ctl"] and configs["files"] == 3
    assert configs["restore_test"]["files"] == 3
    assert (state / "backups" / f"run{run.id}" / "configs" / "old-ctl" / "etc" / "keystone"
            / "fernet-keys" / "0").read_bytes() == b"fernet key 0"
    copy_result = journal.step(run.id, "prepare.copy-databases").result
    assert copy_result["status"] == "verified"

    cutover = Plan("cutover", "data", (
        step("cutover.final-copy", "copy_databases", databases=DATABASES, replace=True),
        step("cutover.record-position", "record_position", databases=DATABASES),
    ))
    Executor(journal, actions).execute(cutover)

    rollback = Plan("rollback", "data", (
        step("rollback.new-writes", "report_new_writes", databases=DATABASES),
        step("rollback.old-untouched", "verify_old_untouched", databases=DATABASES),
    ))
    # No writes on the new side yet: rollback's checks pass.
    Executor(journal, actions).execute(rollback)

    # The new side takes a write after cutover: rollback refuses and exports it.
    with servers["new"].connect() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO glance.project (name) VALUES ('written-after-cutover')")
        conn.commit()
    with pytest.raises(StepFailed) as refused:
        Executor(journal, actions).execute(rollback, restart=True)
    assert "glance.project" in refused.value.message
    assert "--accept-data-loss" in (refused.value.hint or "")
    exports = list((state / "rollback-exports").glob("*/manifest.json"))
    assert exports, "the new writes were not exported before refusing"
    accepted = Executor(journal, {**actions}, options={"accept_data_loss": True})
    accepted.execute(rollback)  # resumes the refused run
    assert checksums(servers["old"]) == old_before  # the old side was never written

    # Something else writes the old database: rollback's proof catches it.
    with servers["old"].connect() as conn, conn.cursor() as cur:
        cur.execute("UPDATE keystone.project SET name = 'tampered' WHERE id = 7")
        conn.commit()
    with pytest.raises(StepFailed, match="keystone.project"):
        Executor(journal, actions, options={"accept_data_loss": True}).execute(
            rollback, restart=True)


def test_db_sync_refused_on_an_unverified_copy(servers: dict[str, MariaDBServer],
                                                tmp_path: Path) -> None:
    inv = inventory(servers)
    state = tmp_path / "state"
    plan = Plan("prepare", "data", (step("prepare.db-sync.2026.1.keystone", "db_sync"),))
    sync = Sync(servers["new"])
    with pytest.raises(StepFailed, match="not verified"):
        Executor(Journal(state), {"db_sync": RequireVerifiedCopy(sync, state)}).execute(plan)
    del inv


def test_rollback_ignores_the_positions_of_an_earlier_cutover(
        servers: dict[str, MariaDBServer], tmp_path: Path) -> None:
    inv = inventory(servers)
    state = tmp_path / "state"
    hosts = Hosts(inv)
    context = ActionContext(inv, hosts, state)
    journal = Journal(state)
    actions = {
        "copy_databases": CopyAction(context),
        "record_position": RecordPositionAction(context),
        "report_new_writes": ReportNewWritesAction(context),
        "verify_old_untouched": VerifyOldUntouchedAction(context),
    }
    copy = step("cutover.final-copy", "copy_databases", databases=DATABASES, replace=True)
    first = Plan("cutover", "data", (
        copy, step("cutover.record-position", "record_position", databases=DATABASES)))
    rollback = Plan("rollback", "data", (
        step("rollback.new-writes", "report_new_writes", databases=DATABASES),
        step("rollback.old-untouched", "verify_old_untouched", databases=DATABASES),
    ))
    Executor(journal, actions).execute(first)
    Executor(journal, actions).execute(rollback)

    # The cloud lives on after the rollback: the old side takes a write.
    with servers["old"].connect() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO keystone.project (name) VALUES ('after-the-rollback')")
        conn.commit()
    # A second cutover stops before it takes its own position (its final copy rewrote
    # the new side; killed, or the operator rolls back before the switch).
    second = Executor(journal, actions).execute(Plan("cutover", "data", (copy,)))
    assert journal.latest_run("cutover").id == second.run_id

    Executor(journal, actions).execute(rollback, restart=True)  # raised before: stale
    run = journal.latest_run("rollback")
    assert journal.step(run.id, "rollback.old-untouched").result == {"checked": False}
    assert journal.step(run.id, "rollback.new-writes").result == {"changed": False,
                                                                  "tables": {}}
    assert "earlier one: ignored" in journal.step(run.id, "rollback.old-untouched").output_tail
