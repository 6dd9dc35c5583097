"""URL parsing, server error codes and the copy verdict of the database copy (password
sources: test_passwords.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sidebyside.db.endpoint import parse_url
from sidebyside.db.errors import error_for_code
from sidebyside.db.state import CopyState, copy_is_verified, require_verified
from sidebyside.errors import (
    DataLossRefused,
    InputError,
    PreflightError,
    StepFailed,
    UnreachableError,
    VerificationError,
)


@pytest.mark.parametrize(("url", "expected"), [
    ("mysql://nova@10.0.0.5:3307", ("10.0.0.5", 3307, "nova")),
    ("mysql://root@db.example", ("db.example", 3306, "root")),
    ("mariadb://u@[::1]:13306/", ("::1", 13306, "u")),
    ("mysql+pymysql://u@h:1", ("h", 1, "u")),
    ("mysql://127.0.0.1:3306", ("127.0.0.1", 3306, "root")),
])
def test_parse_url(url: str, expected: tuple[str, int, str]) -> None:
    assert parse_url(url) == expected


@pytest.mark.parametrize("url", ["http://u@h:1", "mysql://", "mysql://u@h:99999", "h:3306",
                                 "mysql://u@h:port"])
def test_parse_url_rejects(url: str) -> None:
    with pytest.raises(InputError):
        parse_url(url)


def test_password_in_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(InputError) as caught:
        parse_url("mysql://u:hunter2secret@h:3306")
    assert "hunter2secret" not in caught.value.message


@pytest.mark.parametrize(("code", "kind"), [
    (1045, UnreachableError), (2003, UnreachableError), (2013, UnreachableError),
    (1049, InputError), (1227, PreflightError), (1142, PreflightError),
    (1114, StepFailed), (1021, StepFailed), (1064, StepFailed)])
def test_server_errors_map_to_exit_codes(code: int, kind: type) -> None:
    error = error_for_code(code, "message", where="target 10.0.0.1:3306")
    assert isinstance(error, kind)
    assert "10.0.0.1:3306" in error.message
    assert DataLossRefused.exit_code == 10 and VerificationError.exit_code == 9


def test_copy_verdict_follows_the_state_file(tmp_path: Path) -> None:
    assert not copy_is_verified(tmp_path)
    state = CopyState.load(tmp_path)
    state.begin("mysql://root@a:1", "mysql://root@b:1", ["nova", "nova_api"])
    assert not copy_is_verified(tmp_path)
    state.set_status("verified")
    assert copy_is_verified(tmp_path, ["nova"], target="mysql://root@b:1")
    assert not copy_is_verified(tmp_path, ["nova", "glance"])
    assert not copy_is_verified(tmp_path, target="mysql://root@c:1")
    require_verified(tmp_path, ["nova_api"])
    state.set_status("mismatch", "nova.instances differs")
    with pytest.raises(VerificationError, match="mismatch"):
        require_verified(tmp_path)
    assert json.loads((tmp_path / "db-copy.json").read_text())["error"] == \
        "nova.instances differs"
