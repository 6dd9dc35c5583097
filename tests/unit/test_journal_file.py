"""A journal file sbs cannot use is refused (exit 2) naming it, and left as it was."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sidebyside.engine.journal import SCHEMA_VERSION, Journal, UnusableJournal


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
