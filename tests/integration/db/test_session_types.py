"""The type checker refuses a read-only session where something writes: the project's
own mypy run over a snippet that misuses the session types (and over its correct use)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

pytestmark = pytest.mark.integration

HEADER = """\
from sidebyside.db import schema
from sidebyside.db.client import ReadOnlySession, SnapshotReader, TargetSession
from sidebyside.db.endpoint import DbEndpoint

endpoint = DbEndpoint("h")
"""


def _mypy(tmp_path: Path, body: str) -> tuple[int, str]:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(HEADER + body)
    out, err, code = api.run(["--no-error-summary", "--cache-dir", str(tmp_path / "cache"),
                              str(snippet)])
    return code, out + err


def test_mypy_refuses_a_read_only_session_as_a_target(tmp_path: Path) -> None:
    code, out = _mypy(tmp_path, """\
old = ReadOnlySession(endpoint)
schema.create_table(old, "d", "t", "CREATE TABLE t (id INT)")
schema.apply_accounts(SnapshotReader(endpoint), [])
old.load_stream(lambda infile: "", lambda write: None)
""")
    assert code == 1, out
    assert 'Argument 1 to "create_table" has incompatible type "ReadOnlySession"; ' \
           'expected "TargetSession"' in out
    assert 'Argument 1 to "apply_accounts" has incompatible type "SnapshotReader"' in out
    assert '"ReadOnlySession" has no attribute "load_stream"' in out


def test_mypy_accepts_a_target_session(tmp_path: Path) -> None:
    code, out = _mypy(tmp_path, """\
new = TargetSession(endpoint)
schema.create_table(new, "d", "t", "CREATE TABLE t (id INT)")
new.load_stream(lambda infile: "", lambda write: None)
schema.read_tables(ReadOnlySession(endpoint), "d")
""")
    assert code == 0, out
