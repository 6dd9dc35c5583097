"""A journal file sbs cannot use is refused (exit 2) naming it, and left as it was."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sidebyside.engine.journal import SCHEMA_VERSION, Journal, StepStatus, UnusableJournal


def test_garbage_is_refused_naming_the_file(tmp_path: Path) -> None:
    journal_file = tmp_path / "journal.db"
    journal_file.write_bytes(b"\x00garbage\xff" * 500)
    with pytest.raises(UnusableJournal) as info:
        Journal(tmp_path)
    assert info.value.exit_code == 2
    assert f"journal {journal_file} is not a readable sbs journal" in info.value.message
    assert "move it aside" in (info.value.hint or "")
    assert journal_file.read_bytes() == b"\x00garbage\xff" * 500


def test_a_newer_format_is_refused_and_not_touched(tmp_path: Path) -> None:
    Journal(tmp_path).close()
    with sqlite3.connect(tmp_path / "journal.db") as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    before = (tmp_path / "journal.db").read_bytes()
    with pytest.raises(UnusableJournal) as info:
        Journal(tmp_path)
    assert info.value.exit_code == 2
    assert f"journal format {SCHEMA_VERSION + 1}" in info.value.message
    assert (tmp_path / "journal.db").read_bytes() == before


def test_a_new_journal_records_its_format(tmp_path: Path) -> None:
    Journal(tmp_path).close()
    with sqlite3.connect(tmp_path / "journal.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()


def test_a_step_journaled_undone_reads_as_pending_and_runs_again(tmp_path: Path) -> None:
    # "undone" was a status of older journals (no run ever wrote it: no undo ran).
    journal = Journal(tmp_path)
    run = journal.start_run("cutover", "t", [{"id": "cutover.switch.keystone",
                                               "action": "switch_traffic", "title": "S"}])
    journal.close()
    with sqlite3.connect(tmp_path / "journal.db") as db:
        db.execute("UPDATE steps SET status = 'undone', attempts = 1")
    db.close()
    journal = Journal(tmp_path)
    assert journal.step(run, "cutover.switch.keystone").status == StepStatus.PENDING
    journal.transition(run, "cutover.switch.keystone", StepStatus.RUNNING)
    journal.transition(run, "cutover.switch.keystone", StepStatus.DONE)
    step = journal.step(run, "cutover.switch.keystone")
    assert step.status == StepStatus.DONE and step.attempts == 2
    journal.close()
