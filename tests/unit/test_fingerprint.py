"""A resume after an inventory edit that changes what the run depends on is refused
(exit 2, naming each changed field) unless --restart; older journals are upgraded."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sidebyside.engine.environment import Environment
from sidebyside.engine.executor import Executor
from sidebyside.engine.fingerprint import fingerprint_changes, inventory_fingerprint
from sidebyside.engine.guarded_run import run_command
from sidebyside.engine.journal import SCHEMA_VERSION, Journal, RunStatus
from sidebyside.errors import InputError, SbsError, StepFailed
from sidebyside.inventory import Inventory, parse_inventory
from sidebyside.plan import build_plan
from sidebyside.redact import forget_secrets, register_secret
from tests.conftest import example_inventory
from tests.unit.test_engine_executor import Recorder, make_plan

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def minimal(**edits: Any) -> Inventory:
    """examples/minimal.yaml with `edits` applied: {"new.database.port": 3307, ...}."""
    data = example_inventory("minimal.yaml")
    for dotted, value in edits.items():
        *parents, last = dotted.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value
    return parse_inventory(data)


def test_an_unchanged_inventory_has_no_changes() -> None:
    assert fingerprint_changes(inventory_fingerprint(minimal()),
                               inventory_fingerprint(minimal())) == []


def test_changes_name_each_field_with_before_and_after() -> None:
    before = inventory_fingerprint(minimal())
    after = inventory_fingerprint(minimal(**{
        "new.database.port": 3307, "hosts.new-ctl1.address": "10.0.0.13",
        "release.from": "2025.2", "old.database.user": "admin",
        "hosts.new-ctl1.transport": "local"}))
    assert fingerprint_changes(before, after) == [
        "hosts.new-ctl1.address: 10.0.0.12 -> 10.0.0.13",
        "hosts.new-ctl1.transport: ssh -> local",
        "new.database.port: 3306 -> 3307",
        "old.database.user: root -> admin",
        "release.from: 2025.1 -> 2025.2",
    ]


def test_traffic_targets_are_part_of_it() -> None:
    before = inventory_fingerprint(minimal())
    after = inventory_fingerprint(minimal(**{
        "ha.haproxy.backends.glance.backend": "glance_api_v2"}))
    assert fingerprint_changes(before, after) == [
        "ha.haproxy.backends.glance.backend: glance_api -> glance_api_v2"]


def test_a_value_that_is_a_known_secret_is_masked() -> None:
    register_secret("Db-User-Is-Secret-7")
    try:
        fingerprint = inventory_fingerprint(minimal(**{"new.database.user":
                                                       "Db-User-Is-Secret-7"}))
    finally:
        forget_secrets()
    assert "Db-User-Is-Secret-7" not in str(fingerprint)
    assert fingerprint["new.database.user"] != "root"


def test_fields_added_or_gone_are_named() -> None:
    assert fingerprint_changes({"a": "1", "b": "2"}, {"b": "2", "c": "3"}) == [
        "a: 1 -> (none)", "c: (none) -> 3"]


def test_no_secret_nor_where_one_is_read_from_is_kept() -> None:
    fingerprint = inventory_fingerprint(minimal())
    kept = " ".join(f"{k} {v}" for k, v in fingerprint.items())
    assert "password" not in kept
    assert "/etc/sbs/old-db.password" not in kept and "SBS_NEW_DB_PASSWORD" not in kept
    # what a run depends on is all there
    for field in ("old.database.host", "new.database.port", "new.database.user",
                  "hosts.old-ctl1.address", "hosts.lb1.transport", "release.from",
                  "release.via", "services", "old.controllers", "new.controllers"):
        assert field in fingerprint, field


def interrupted(journal: Journal, inventory: Inventory) -> int:
    """A prepare run that failed at its second step, journaled with `inventory`."""
    calls: list[str] = []
    plan = make_plan("a", "b", "c")
    actions = {"a": Recorder(calls), "b": Recorder(calls, fail=True), "c": Recorder(calls)}
    with pytest.raises(StepFailed):
        Executor(journal, actions).execute(plan, fingerprint=inventory_fingerprint(inventory))
    run = journal.latest_run("prepare")
    assert run is not None and run.fingerprint == inventory_fingerprint(inventory)
    return run.id


def test_resume_after_an_edit_is_refused_naming_the_field(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    run_id = interrupted(journal, minimal())
    calls: list[str] = []
    actions = {n: Recorder(calls) for n in "abc"}
    edited = inventory_fingerprint(minimal(**{"new.database.port": 3307}))
    with pytest.raises(InputError) as info:
        Executor(journal, actions).execute(make_plan("a", "b", "c"), fingerprint=edited)
    assert info.value.exit_code == 2
    assert "new.database.port: 3306 -> 3307" in info.value.message
    assert f"run {run_id}" in info.value.message
    assert "--restart" in (info.value.hint or "")
    assert calls == []  # nothing ran
    assert journal.run(run_id).status == RunStatus.FAILED  # and the run was left as it was

    # --restart starts a new run, journaled with the edited inventory
    out = Executor(journal, actions).execute(make_plan("a", "b", "c"), restart=True,
                                             fingerprint=edited)
    assert not out.resumed and out.run_id != run_id
    assert calls == ["prepare.a", "prepare.b", "prepare.c"]
    assert journal.run(out.run_id).fingerprint == edited


def test_resume_with_the_same_inventory_goes_on(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    run_id = interrupted(journal, minimal())
    calls: list[str] = []
    out = Executor(journal, {n: Recorder(calls) for n in "abc"}).execute(
        make_plan("a", "b", "c"), fingerprint=inventory_fingerprint(minimal()))
    assert out.resumed and out.run_id == run_id
    assert calls == ["prepare.b", "prepare.c"]


def test_the_runner_refuses_before_building_any_action(tmp_path: Path) -> None:
    built: list[str] = []

    def actions_factory(env: Environment) -> dict[str, Any]:
        built.append(env.inventory.new.database.host)
        plan = build_plan(env.inventory, "prepare")
        return {s.action: Recorder([], fail=(s.action == "backup")) for s in plan.steps}

    first = Environment(inventory=minimal(), state_dir=tmp_path)
    with pytest.raises(StepFailed):
        run_command(first, "prepare", actions_factory)
    first.close()
    edited = Environment(inventory=minimal(**{"new.database.host": "10.0.0.99"}),
                         state_dir=tmp_path)
    with pytest.raises(InputError, match=r"new.database.host: 10.0.0.12 -> 10.0.0.99"):
        run_command(edited, "prepare", actions_factory)
    assert built == ["10.0.0.12"]  # the edited run opened nothing
    try:
        run_command(edited, "prepare", actions_factory, restart=True)
    except SbsError as exc:  # the injected backup failure, in a new run
        assert not isinstance(exc, InputError)
    assert built == ["10.0.0.12", "10.0.0.99"]
    runs = edited.journal.runs("prepare")
    assert len(runs) == 2 and runs[1].fingerprint == inventory_fingerprint(edited.inventory)


def test_a_journal_from_before_the_fingerprint_is_upgraded_and_resumes(
        tmp_path: Path) -> None:
    # The layout journals had before the schema version was recorded (user_version 0).
    legacy = sqlite3.connect(tmp_path / "journal.db")
    legacy.executescript("""
        CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, command TEXT NOT NULL,
            environment TEXT NOT NULL, status TEXT NOT NULL, started REAL NOT NULL,
            ended REAL, user TEXT, host TEXT, pid INTEGER, argv TEXT, plan TEXT NOT NULL,
            rc INTEGER, error TEXT);
        CREATE TABLE steps (run_id INTEGER NOT NULL REFERENCES runs(id), seq INTEGER NOT NULL,
            step_id TEXT NOT NULL, action TEXT NOT NULL, title TEXT NOT NULL,
            status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, started REAL,
            ended REAL, output_tail TEXT NOT NULL DEFAULT '', error TEXT, result TEXT,
            PRIMARY KEY (run_id, step_id));
        CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,
            step_id TEXT, at REAL NOT NULL, kind TEXT NOT NULL, data TEXT);
        CREATE TABLE facts (key TEXT PRIMARY KEY, value TEXT NOT NULL, at REAL NOT NULL);
        INSERT INTO runs (command, environment, status, started, plan)
            VALUES ('prepare', 't', 'failed', 1.0,
                    '[{"id": "prepare.a"}, {"id": "prepare.b"}, {"id": "prepare.c"}]');
        INSERT INTO steps VALUES (1, 0, 'prepare.a', 'a', 'A', 'done', 1, 1, 2, '', NULL, NULL);
        INSERT INTO steps VALUES (1, 1, 'prepare.b', 'b', 'B', 'failed', 1, 2, 3, '', 'x', NULL);
        INSERT INTO steps VALUES (1, 2, 'prepare.c', 'c', 'C', 'pending', 0, NULL, NULL, '',
                                  NULL, NULL);
    """)
    legacy.close()
    journal = Journal(tmp_path)
    assert journal.run(1).fingerprint is None
    version = sqlite3.connect(tmp_path / "journal.db").execute("PRAGMA user_version")
    assert version.fetchone()[0] == SCHEMA_VERSION
    # No fingerprint to compare: resumed on its steps alone, then checked from now on.
    calls: list[str] = []
    out = Executor(journal, {n: Recorder(calls) for n in "abc"}).execute(
        make_plan("a", "b", "c"), fingerprint=inventory_fingerprint(minimal()))
    assert out.resumed and out.run_id == 1 and calls == ["prepare.b", "prepare.c"]
