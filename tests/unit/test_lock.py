"""The run lock: what a dead holder leaves never blocks; what sbs did not write is
refused (exit 2) naming the file; a held lock with unknown content still says locked."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sidebyside.engine.lock import MalformedLock, RunLock
from sidebyside.errors import LockedError


def test_a_dead_holders_details_or_an_empty_file_do_not_block(tmp_path: Path) -> None:
    lock_file = tmp_path / "run.lock"
    for left in ("", json.dumps({"user": "op", "host": "h", "pid": 999999,
                                 "command": "cutover", "since": 1.0})):
        lock_file.write_text(left)
        with RunLock(tmp_path, "prepare"):
            holder = RunLock(tmp_path, "status").holder()
            assert holder is not None and holder["pid"] == os.getpid()
            assert holder["command"] == "prepare"
        assert lock_file.read_text() == ""  # released: empty again


def test_unknown_content_is_refused_and_kept(tmp_path: Path) -> None:
    lock_file = tmp_path / "run.lock"
    lock_file.write_text('{"who": "someone else"}')
    with pytest.raises(MalformedLock) as info:
        RunLock(tmp_path, "prepare").acquire()
    assert info.value.exit_code == 2
    assert f"lock file {lock_file}" in info.value.message
    assert f"remove {lock_file}" in (info.value.hint or "")
    with pytest.raises(MalformedLock):
        RunLock(tmp_path, "status").check_form()
    assert lock_file.read_text() == '{"who": "someone else"}'
    # and the refused attempt let go of the flock: once removed, the lock is free
    lock_file.unlink()
    with RunLock(tmp_path, "prepare"):
        pass


def test_a_held_lock_with_unknown_content_is_still_locked(tmp_path: Path) -> None:
    with RunLock(tmp_path, "prepare"):
        (tmp_path / "run.lock").write_bytes(b"\xff\x00")
        with pytest.raises(LockedError) as info:
            RunLock(tmp_path, "cutover").acquire()
    assert info.value.exit_code == 7
    assert "user ? on ?, pid ?" in info.value.message and "since ?" in info.value.message


def test_no_lock_file_is_fine_for_status(tmp_path: Path) -> None:
    RunLock(tmp_path / "missing", "status").check_form()
    assert not (tmp_path / "missing").exists()


def test_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "run.lock")
    for attempt in (RunLock(tmp_path, "status").check_form,
                    RunLock(tmp_path, "prepare").acquire):
        with pytest.raises(MalformedLock, match="is not a regular file"):
            attempt()
