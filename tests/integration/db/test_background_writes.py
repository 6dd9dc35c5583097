"""Rollback's accounting of the new side's own background writes, on a real MariaDB:
heartbeats and service records (nova `services`, neutron `agents`, heat `service`, as
the catalog describes them) are not a user's write; a new server, a changed
non-background column or a deleted service row still are, and rollback refuses and
exports them. Tables shaped like upstream's (the columns that matter): nova/db/main/
models.py Service, Instance, ComputeNode; neutron/db/models/agent.py Agent; heat/db/
models.py Service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sidebyside.actions.context import ActionContext
from sidebyside.actions.data import (
    RecordPositionAction,
    ReportNewWritesAction,
    VerifyOldUntouchedAction,
)
from sidebyside.db import DbEndpoint
from sidebyside.db.mariadb_server import MariaDBServer
from sidebyside.db.position import changes_since, classify_background, record_position
from sidebyside.engine.executor import Executor
from sidebyside.engine.journal import Journal
from sidebyside.errors import DataLossRefused, StepFailed
from sidebyside.inventory import parse_inventory
from sidebyside.plan.model import Changes, Plan, Step
from sidebyside.remote.inventory_hosts import Hosts
from sidebyside.services.catalog import background_writes_of
from tests.conftest import MariaDBFactory
from tests.integration.db.conftest import endpoint_of

pytestmark = pytest.mark.integration
DATABASES = ["nova", "neutron", "heat"]

SCHEMA = (
    "CREATE TABLE nova.services (id INT AUTO_INCREMENT PRIMARY KEY, uuid VARCHAR(36),"
    " host VARCHAR(255), `binary` VARCHAR(255), topic VARCHAR(255),"
    " report_count INT NOT NULL DEFAULT 0, disabled TINYINT(1) DEFAULT 0,"
    " disabled_reason VARCHAR(255), last_seen_up DATETIME NULL, forced_down TINYINT(1)"
    " DEFAULT 0, version INT DEFAULT 0, created_at DATETIME, updated_at DATETIME,"
    " deleted_at DATETIME, deleted INT DEFAULT 0)",
    "CREATE TABLE nova.compute_nodes (id INT AUTO_INCREMENT PRIMARY KEY, host"
    " VARCHAR(255), hypervisor_hostname VARCHAR(255), vcpus INT NOT NULL, vcpus_used INT"
    " NOT NULL, memory_mb_used INT NOT NULL, free_ram_mb INT, running_vms INT,"
    " stats TEXT, updated_at DATETIME, deleted INT DEFAULT 0)",
    "CREATE TABLE nova.instances (id INT AUTO_INCREMENT PRIMARY KEY, uuid VARCHAR(36) NOT"
    " NULL, display_name VARCHAR(255), vm_state VARCHAR(255), host VARCHAR(255),"
    " created_at DATETIME, updated_at DATETIME, deleted INT DEFAULT 0)",
    "CREATE TABLE neutron.agents (id VARCHAR(36) PRIMARY KEY, agent_type VARCHAR(255) NOT"
    " NULL, `binary` VARCHAR(255) NOT NULL, topic VARCHAR(255) NOT NULL, host VARCHAR(255)"
    " NOT NULL, availability_zone VARCHAR(255), admin_state_up TINYINT(1) NOT NULL DEFAULT"
    " 1, created_at DATETIME NOT NULL, started_at DATETIME NOT NULL, heartbeat_timestamp"
    " DATETIME NOT NULL, description VARCHAR(255), configurations VARCHAR(4095) NOT NULL,"
    " resource_versions VARCHAR(8191), `load` INT NOT NULL DEFAULT 0, resources_synced"
    " TINYINT(1))",
    "CREATE TABLE neutron.networks (id VARCHAR(36) PRIMARY KEY, project_id VARCHAR(255),"
    " name VARCHAR(255))",
    "CREATE TABLE heat.service (id VARCHAR(36) PRIMARY KEY, engine_id VARCHAR(36) NOT NULL,"
    " host VARCHAR(255) NOT NULL, hostname VARCHAR(255) NOT NULL, `binary` VARCHAR(255) NOT"
    " NULL, topic VARCHAR(255) NOT NULL, report_interval INT NOT NULL, created_at DATETIME,"
    " updated_at DATETIME, deleted_at DATETIME)",
    "CREATE TABLE heat.stack (id VARCHAR(36) PRIMARY KEY, name VARCHAR(255),"
    " status VARCHAR(255))",
)

SEED = (
    "INSERT INTO nova.services (uuid, host, `binary`, topic, report_count, last_seen_up,"
    " version, created_at, updated_at) VALUES"
    " (UUID(), 'old-ctl', 'nova-conductor', 'conductor', 40, NOW(), 66, NOW(), NOW()),"
    " (UUID(), 'old-ctl', 'nova-scheduler', 'scheduler', 41, NOW(), 66, NOW(), NOW()),"
    " (UUID(), 'cmp-1', 'nova-compute', 'compute', 42, NOW(), 66, NOW(), NOW())",
    "INSERT INTO nova.compute_nodes (host, hypervisor_hostname, vcpus, vcpus_used,"
    " memory_mb_used, free_ram_mb, running_vms, stats, updated_at)"
    " VALUES ('cmp-1', 'cmp-1', 8, 1, 512, 7680, 1, '{}', NOW())",
    "INSERT INTO nova.instances (uuid, display_name, vm_state, host, created_at)"
    " VALUES (UUID(), 'seeded', 'active', 'cmp-1', NOW())",
    "INSERT INTO neutron.agents (id, agent_type, `binary`, topic, host, created_at,"
    " started_at, heartbeat_timestamp, configurations) VALUES"
    " ('a1', 'DHCP agent', 'neutron-dhcp-agent', 'dhcp_agent', 'old-ctl', NOW(), NOW(),"
    " NOW(), '{}')",
    "INSERT INTO neutron.networks VALUES ('n1', 'p1', 'seeded')",
    "INSERT INTO heat.service VALUES ('s1', 'e1', 'old-ctl', 'old-ctl', 'heat-engine',"
    " 'engine', 60, NOW(), NOW(), NULL)",
    "INSERT INTO heat.stack VALUES ('st1', 'seeded', 'CREATE_COMPLETE')",
)

HEARTBEATS = (
    "UPDATE nova.services SET report_count = report_count + 1, last_seen_up = NOW() +"
    " INTERVAL 10 SECOND, updated_at = NOW() + INTERVAL 10 SECOND, version = 70",
    "UPDATE nova.compute_nodes SET updated_at = NOW() + INTERVAL 10 SECOND",
    "UPDATE neutron.agents SET heartbeat_timestamp = NOW() + INTERVAL 10 SECOND,"
    " configurations = '{\"networks\": 1}'",
    "UPDATE heat.service SET updated_at = NOW() + INTERVAL 10 SECOND",
    # the new side's services register: a conductor on a new host, a new heat-engine
    "INSERT INTO nova.services (uuid, host, `binary`, topic, report_count, version,"
    " created_at, updated_at) VALUES (UUID(), 'new-ctl', 'nova-conductor', 'conductor',"
    " 1, 70, NOW(), NOW())",
    "INSERT INTO heat.service VALUES ('s2', 'e2', 'new-ctl', 'new-ctl', 'heat-engine',"
    " 'engine', 60, NOW(), NOW(), NULL)",
)

USER_WRITES = {
    "a new server": ("nova.instances", "INSERT INTO nova.instances (uuid, display_name,"
                     " vm_state, host, created_at) VALUES (UUID(), 'after-cutover',"
                     " 'active', 'cmp-1', NOW())"),
    "a disabled compute service": ("nova.services", "UPDATE nova.services SET disabled = 1,"
                                   " disabled_reason = 'maintenance' WHERE host = 'cmp-1'"),
    "a deleted service row": ("nova.services", "DELETE FROM nova.services WHERE"
                              " `binary` = 'nova-scheduler'"),
    "an agent set down by an admin": ("neutron.agents", "UPDATE neutron.agents SET"
                                      " admin_state_up = 0"),
    "a new compute node": ("nova.compute_nodes", "INSERT INTO nova.compute_nodes (host,"
                           " hypervisor_hostname, vcpus, vcpus_used, memory_mb_used)"
                           " VALUES ('cmp-2', 'cmp-2', 8, 0, 0)"),
    "a new stack": ("heat.stack", "INSERT INTO heat.stack VALUES ('st2', 'mine',"
                    " 'CREATE_IN_PROGRESS')"),
}


@pytest.fixture(scope="module")
def server(mariadb_factory: MariaDBFactory) -> MariaDBServer:
    return mariadb_factory("background")


@pytest.fixture()
def cloud(server: MariaDBServer) -> Iterator[DbEndpoint]:
    """The three databases afresh, seeded, for each test."""
    run(server, *(f"DROP DATABASE IF EXISTS {d}" for d in DATABASES),
        *(f"CREATE DATABASE {d} CHARACTER SET utf8mb4" for d in DATABASES), *SCHEMA, *SEED)
    yield endpoint_of(server)


def run(server: MariaDBServer, *statements: str) -> None:
    with server.connect() as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
        conn.commit()


def test_heartbeats_and_new_service_rows_are_only_background(
        server: MariaDBServer, cloud: DbEndpoint) -> None:
    position = record_position(cloud, DATABASES, background=background_writes_of(DATABASES))
    assert set(position["tables"]["nova.services"]["background"]["rows"]) == {
        '["1"]', '["2"]', '["3"]'}
    run(server, *HEARTBEATS)

    changes = changes_since(cloud, position)
    assert changes["changed"] and not changes["user_changes"]
    tables = changes["tables"]
    assert set(tables) == {"nova.services", "nova.compute_nodes", "neutron.agents",
                           "heat.service"}
    assert all(entry["background"] for entry in tables.values())
    services = tables["nova.services"]
    assert services["background_writes"] == {
        "columns": {"report_count": 3, "last_seen_up": 3, "version": 3, "updated_at": 3},
        "rows_added": 1, "rows_deleted": 0, "other_columns_changed": 0}
    assert "updated_at on 3 rows" in services["reason"] and "1 new row" in services["reason"]
    assert tables["neutron.agents"]["background_writes"]["columns"] == {
        "heartbeat_timestamp": 1, "configurations": 1}


@pytest.mark.parametrize("write", sorted(USER_WRITES))
def test_a_users_write_is_not_background(server: MariaDBServer, cloud: DbEndpoint,
                                         write: str) -> None:
    position = record_position(cloud, DATABASES, background=background_writes_of(DATABASES))
    table, statement = USER_WRITES[write]
    run(server, *HEARTBEATS, statement)

    changes = changes_since(cloud, position)
    assert changes["user_changes"]
    entry = changes["tables"][table]
    assert not entry.get("background")
    others = {t for t, e in changes["tables"].items() if not e.get("background")}
    assert others == {table}  # the heartbeats beside it are still told apart


def test_without_a_background_description_every_change_counts(
        server: MariaDBServer, cloud: DbEndpoint) -> None:
    """A table the catalog does not describe: any change is a user's."""
    position = record_position(cloud, DATABASES)
    run(server, *HEARTBEATS)
    changes = changes_since(cloud, position)
    assert changes["changed"] and changes["user_changes"]
    assert all("background" not in e for e in changes["tables"].values())


def test_a_schema_change_of_a_background_table_is_not_background(
        server: MariaDBServer, cloud: DbEndpoint) -> None:
    position = record_position(cloud, DATABASES, background=background_writes_of(DATABASES))
    run(server, "ALTER TABLE heat.service ADD COLUMN note VARCHAR(9) DEFAULT 'x'")
    entry = changes_since(cloud, position)["tables"]["heat.service"]
    assert entry["background"] is False and "columns changed" in entry["reason"]


def test_classify_background_refuses_what_it_cannot_tell_apart() -> None:
    unrecorded = {"columns": ["updated_at"], "other_columns": ["id"], "rows": None,
                  "unrecorded": "more than 20000 rows", "new_rows": True,
                  "deleted_rows": False}
    verdict = classify_background(unrecorded, unrecorded)
    assert verdict["background"] is False and "20000" in verdict["reason"]
    rows = {"columns": ["updated_at"], "other_columns": ["id"], "new_rows": False,
            "deleted_rows": True, "rows": {'["1"]': [5, 7]}}
    same = classify_background(rows, rows)  # the table's checksum moved, no row did
    assert same["background"] is False
    gone = classify_background(rows, {**rows, "rows": {}})
    assert gone["background"] is True and gone["reason"] == "1 deleted row"
    added = classify_background(rows, {**rows, "rows": {**rows["rows"], '["2"]': [1, 1]}})
    assert added["background"] is False and added["reason"] == "1 new row"


# --- through ReportNewWritesAction and the executor --------------------------------

def step(id_: str, action: str, **params: Any) -> Step:
    return Step(id=id_, action=action, title=id_, changes=Changes.NEW_SIDE, params=params)


def actions_for(server: MariaDBServer, state: Path, on: str = "new") -> dict[str, Any]:
    """Side `on`'s database is `server`; the other side's is never reached here."""
    def side(name: str) -> dict[str, Any]:
        port = server.port if name == on else server.port + 1
        return {"controllers": [f"{name}-ctl"], "cloud": f"lab-{name}",
                "database": {"host": server.host, "port": port, "user": "root",
                             "password_file": str(server.password_file)},
                "services": {s: {"units": [s]} for s in ("keystone", "glance")}}
    inv = parse_inventory({
        "environment": "background", "release": {"from": "2025.1", "to": "2026.1"},
        "services": ["keystone", "glance"],
        "hosts": {"old-ctl": {"address": "127.0.0.1", "transport": "local"},
                  "new-ctl": {"address": "127.0.0.2", "transport": "local"}},
        "old": side("old"), "new": side("new"),
        "ha": {"haproxy": {"nodes": [{"host": "old-ctl"}], "backends": {
            s: {"backend": s, "old": ["a"], "new": ["b"]} for s in ("keystone", "glance")}}},
    })
    context = ActionContext(inv, Hosts(inv), state)
    return {"record_position": RecordPositionAction(context),
            "report_new_writes": ReportNewWritesAction(context),
            "verify_old_untouched": VerifyOldUntouchedAction(context)}


CUTOVER = Plan("cutover", "background", (
    step("cutover.record-position", "record_position", databases=DATABASES, sides=["new"]),))
ROLLBACK = Plan("rollback", "background", (
    step("rollback.new-writes", "report_new_writes", databases=DATABASES),))


def test_rollback_passes_over_background_writes_and_refuses_a_users(
        server: MariaDBServer, cloud: DbEndpoint, tmp_path: Path) -> None:
    state = tmp_path / "state"
    journal = Journal(state)
    actions = actions_for(server, state)
    Executor(journal, actions).execute(CUTOVER)
    run(server, *HEARTBEATS)

    Executor(journal, actions).execute(ROLLBACK)  # only the services' own writes
    done = journal.step(journal.latest_run("rollback").id, "rollback.new-writes")
    assert done.result["changed"] is False
    assert set(done.result["background"]) == {"nova.services", "nova.compute_nodes",
                                              "neutron.agents", "heat.service"}
    assert ("background writes of the new side's services since cutover, not user data: "
            "heat.service updated_at on 1 row, 1 new row") in done.output_tail
    assert not (state / "rollback-exports").exists()

    # a user's server, and an admin's change of a service record: refused, exported
    run(server, USER_WRITES["a new server"][1], "UPDATE nova.services SET forced_down = 1"
        " WHERE host = 'cmp-1'")
    with pytest.raises(StepFailed) as refused:
        Executor(journal, actions).execute(ROLLBACK, restart=True)
    assert isinstance(refused.value.__cause__, DataLossRefused)
    assert refused.value.cause_exit_code == DataLossRefused.exit_code == 10  # type: ignore[attr-defined]
    message = refused.value.message
    assert "nova.instances" in message and "nova.services" in message
    assert "neutron.agents" not in message and "heat.service" not in message
    exports = list((state / "rollback-exports").glob("*/manifest.json"))
    assert len(exports) == 1
    exported = exports[0].read_text()
    assert '"nova"' in exported and '"heat"' not in exported  # the databases with user writes


class OldServices:
    """What the old services write while the window is open (a step of the test plan,
    between the position and the proof)."""

    def __init__(self, server: MariaDBServer) -> None:
        self.server = server
        self.statements: tuple[str, ...] = HEARTBEATS

    def run(self, step: Step, ctx: Any) -> dict[str, Any]:
        run(self.server, *self.statements)
        return {}


READ_ONLY_WINDOW = Plan("cutover", "background", (
    step("cutover.old-position", "record_position", databases=DATABASES, sides=["old"]),
    step("cutover.old-services-run", "old_services_run"),
    step("cutover.old-unchanged", "verify_old_untouched", databases=DATABASES,
         since="freeze"),
))


def test_the_window_lets_the_old_services_beat_and_stops_at_a_users_write(
        server: MariaDBServer, cloud: DbEndpoint, tmp_path: Path) -> None:
    """The old services answer reads in the read-only window and keep beating (nova's
    conductor and computes, neutron's agents, heat-engine): the cutover switches over
    that, and refuses to switch over anything else written on the old side."""
    state = tmp_path / "state"
    journal = Journal(state)
    old_services = OldServices(server)
    actions = {**actions_for(server, state, on="old"), "old_services_run": old_services}
    Executor(journal, actions).execute(READ_ONLY_WINDOW)
    done = journal.step(journal.latest_run("cutover").id, "cutover.old-unchanged")
    assert done.result["background"] == ["heat.service", "neutron.agents",
                                         "nova.compute_nodes", "nova.services"]
    assert "no user's data: heat.service updated_at on 1 row" in done.output_tail

    old_services.statements = (HEARTBEATS[0], USER_WRITES["a new stack"][1])
    with pytest.raises(StepFailed) as refused:
        Executor(journal, actions).execute(READ_ONLY_WINDOW, restart=True)
    assert "heat.stack" in refused.value.message
    assert "nova.services" not in refused.value.message  # the heartbeats are not named
    assert "traffic was not switched" in refused.value.message
