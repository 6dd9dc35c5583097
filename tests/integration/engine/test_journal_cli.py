"""Through the real `sbs` command: a resume after an inventory edit is refused naming the
field unless --restart; an unusable journal or lock file is exit 2 naming the file, no
traceback, nothing changed."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sidebyside.engine.fingerprint import inventory_fingerprint
from sidebyside.engine.journal import Journal, RunStatus, StepStatus
from sidebyside.inventory import load_inventory
from sidebyside.plan import build_plan
from tests.conftest import example_inventory

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
NEW_PASSWORD = "Secret-for-journal-2"


def sbs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sidebyside", *args], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120,
                          env={**os.environ, "COLUMNS": "200",
                               "SBS_NEW_DB_PASSWORD": NEW_PASSWORD})


def write_inventory(tmp_path: Path, old_port: int = 1) -> Path:
    """minimal.yaml with real secrets, and every address on loopback where nothing
    listens (port 1 and 2): a run that gets going fails at once, reaching nothing."""
    password = tmp_path / "old.password"
    password.write_text("Secret-for-journal-1\n")
    data = example_inventory("minimal.yaml")
    data["old"]["database"].update(host="127.0.0.1", port=old_port,
                                   password_file=str(password))
    data["new"]["database"].update(host="127.0.0.1", port=2)
    for number, host in enumerate(data["hosts"].values(), start=21):
        host.update(address=f"127.0.0.{number}", ssh={"port": 1})
    inventory = tmp_path / "sbs.yaml"
    inventory.write_text(yaml.safe_dump(data))
    return inventory


def interrupted_prepare(inventory: Path, state: Path) -> int:
    """A prepare run killed in its first step, as SIGKILL leaves it in the journal."""
    inv = load_inventory(inventory)
    plan = build_plan(inv, "prepare")
    journal = Journal(state)
    run_id = journal.start_run("prepare", inv.environment, [s.to_dict() for s in plan.steps],
                               fingerprint=inventory_fingerprint(inv))
    journal.transition(run_id, plan.steps[0].id, StepStatus.RUNNING)
    journal.close()
    return run_id


def test_resume_after_an_inventory_edit_is_exit_2_naming_the_field(tmp_path: Path) -> None:
    state = tmp_path / "state"
    run_id = interrupted_prepare(write_inventory(tmp_path), state)
    edited = write_inventory(tmp_path, old_port=3)

    refused = sbs("prepare", "-i", str(edited), "--state-dir", str(state), "--yes")
    assert refused.returncode == 2, refused.stderr
    said = " ".join(refused.stderr.split())
    assert "old.database.port: 1 -> 3" in said
    assert f"run {run_id}" in said and "--restart" in said
    assert "Traceback" not in refused.stderr + refused.stdout
    journal = Journal(state)
    assert [r.id for r in journal.runs("prepare")] == [run_id]  # nothing started
    journal.close()

    # `sbs status` tells the same before anyone re-runs
    shown = sbs("status", "-i", str(edited), "--state-dir", str(state), "--json")
    assert shown.returncode == 0, shown.stderr
    (run,) = json.loads(shown.stdout)["runs"]
    assert run["id"] == run_id and run["inventory_changes"] == ["old.database.port: 1 -> 3"]

    restarted = sbs("prepare", "-i", str(edited), "--state-dir", str(state), "--yes",
                    "--restart")
    # It gets going (and fails at once: nothing listens on these addresses).
    assert "inventory has changed" not in restarted.stderr
    assert "Traceback" not in restarted.stderr + restarted.stdout
    assert restarted.returncode not in (0, 2), restarted.stderr
    journal = Journal(state)
    runs = journal.runs("prepare")
    assert len(runs) == 2 and runs[1].status != RunStatus.RUNNING
    assert runs[1].fingerprint is not None
    assert runs[1].fingerprint["old.database.port"] == "3"
    assert "Secret-for-journal" not in str(runs[1].fingerprint)
    journal.close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_refused(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    said = " ".join(result.stderr.split())  # as one line, however the console wrapped it
    for text in expected:
        assert text in said, (text, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout


def commands(inventory: Path, state: Path) -> list[tuple[str, ...]]:
    # `status` and a changing command (which must refuse before it changes anything)
    return [("status", "-i", str(inventory), "--state-dir", str(state)),
            ("prepare", "-i", str(inventory), "--state-dir", str(state), "--yes")]


def test_a_corrupt_journal_is_exit_2_naming_the_file(tmp_path: Path) -> None:
    inventory, state = write_inventory(tmp_path), tmp_path / "state"
    state.mkdir()
    journal = state / "journal.db"
    journal.write_bytes(b"this is no journal\x00\xff" * 300)
    before = sha256(journal)
    for command in commands(inventory, state):
        result = sbs(*command)
        assert_refused(result, str(journal), "not a readable sbs journal", "move it aside")
    assert sha256(journal) == before
    assert not (state / "run.lock").exists()  # refused before the lock was even taken


def test_a_damaged_journal_is_exit_2_naming_the_file(tmp_path: Path) -> None:
    # A real journal with pages overwritten in the middle (a disk or copy gone wrong).
    inventory, state = write_inventory(tmp_path), tmp_path / "state"
    interrupted_prepare(inventory, state)
    journal = state / "journal.db"
    content = bytearray(journal.read_bytes())
    assert len(content) > 8192
    content[4096:8192] = b"\xa5" * 4096
    journal.write_bytes(bytes(content))
    for command in commands(inventory, state):
        assert_refused(sbs(*command), str(journal), "not a readable sbs journal")


def test_a_journal_of_a_newer_sbs_is_exit_2_and_left_unchanged(tmp_path: Path) -> None:
    inventory, state = write_inventory(tmp_path), tmp_path / "state"
    interrupted_prepare(inventory, state)
    journal = state / "journal.db"
    with sqlite3.connect(journal) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    before = sha256(journal)
    for command in commands(inventory, state):
        assert_refused(sbs(*command), str(journal), "written by a newer sbs",
                       "journal format 99")
    assert sha256(journal) == before


@pytest.mark.parametrize("form", ["garbage", "directory", "symlink"])
def test_a_malformed_lock_file_is_exit_2_naming_it(tmp_path: Path, form: str) -> None:
    inventory, state = write_inventory(tmp_path), tmp_path / "state"
    state.mkdir()
    lock = state / "run.lock"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("keep me")
    if form == "garbage":
        lock.write_bytes(b"\x00\xffnot sbs's holder details")
    elif form == "directory":
        lock.mkdir()
    else:
        lock.symlink_to(elsewhere)
    for command in commands(inventory, state):
        assert_refused(sbs(*command), f"lock file {lock}", f"remove {lock}")
    assert elsewhere.read_text() == "keep me"  # never written through the link
    if form == "garbage":
        assert lock.read_bytes() == b"\x00\xffnot sbs's holder details"
