"""The state dir is 0700 and the journal, its -wal/-shm and the lock 0600, even when they
already existed with looser modes and whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidebyside.engine.environment import Environment
from sidebyside.engine.journal import Journal
from sidebyside.engine.lock import RunLock
from sidebyside.errors import InputError
from tests.unit.test_engine_guarded_run import environment


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture()
def loose_umask() -> Iterator[None]:
    # The process umask (077, set by the CLI) must not be what keeps these private.
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_journal_tightens_a_state_dir_and_files_that_existed_loose(
        tmp_path: Path, loose_umask: None) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    journal_file = state / "journal.db"
    Journal(state).close()  # a real journal, then loosened as an older sbs left it
    os.chmod(journal_file, 0o644)
    for suffix in ("-wal", "-shm"):
        leftover = state / f"journal.db{suffix}"
        leftover.touch()
        os.chmod(leftover, 0o644)

    journal = Journal(state)
    journal.start_run("prepare", "t", [{"id": "a", "action": "x", "title": "A"}])
    try:
        assert mode(state) == 0o700
        for name in ("journal.db", "journal.db-wal", "journal.db-shm"):
            assert (state / name).exists(), name  # written: WAL mode keeps both open
            assert mode(state / name) == 0o600, name
    finally:
        journal.close()


def test_new_state_dir_and_journal_are_private_under_a_loose_umask(
        tmp_path: Path, loose_umask: None) -> None:
    state = tmp_path / "a" / "state"
    env = Environment(inventory=environment(tmp_path).inventory, state_dir=state)
    env.journal.start_run("prepare", "t", [{"id": "a", "action": "x", "title": "A"}])
    try:
        assert mode(state) == 0o700
        assert {p.name: mode(p) for p in state.iterdir()} == {
            "journal.db": 0o600, "journal.db-wal": 0o600, "journal.db-shm": 0o600}
    finally:
        env.close()


def test_lock_file_left_loose_is_made_private(tmp_path: Path, loose_umask: None) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    (state / "run.lock").write_text("")
    os.chmod(state / "run.lock", 0o644)
    with RunLock(state, "prepare"):
        assert mode(state) == 0o700
        assert mode(state / "run.lock") == 0o600


def test_state_dir_that_is_a_file_is_exit_2_naming_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("not a directory")
    with pytest.raises(InputError) as info:
        Journal(state)
    assert info.value.exit_code == 2
    assert str(state) in info.value.message and "not a directory" in info.value.message
