"""URL parsing, password sources and the copy verdict of the database copy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sidebyside.db.endpoint import endpoint_from_url, parse_url, read_password
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
from sidebyside.redact import redact


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


def test_password_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pw = tmp_path / "pw"
    pw.write_text("from-file-pw\n")
    assert read_password(password_file=pw) == "from-file-pw"
    assert redact("x from-file-pw y") == "x *** y"
    monkeypatch.setenv("SBS_TEST_DB_PW", "from-env-pw")
    assert read_password(password_env="SBS_TEST_DB_PW") == "from-env-pw"
    cnf = tmp_path / "my.cnf"
    cnf.write_text("[client]\nuser = root\npassword = \"opt-file-pw\"\n")
    assert read_password(option_file=cnf) == "opt-file-pw"
    endpoint = endpoint_from_url("mysql://svc@h:1", password_file=pw)
    assert endpoint.password == "from-file-pw" and "from-file-pw" not in repr(endpoint)
    assert endpoint.url == "mysql://svc@h:1"


def test_password_source_errors_name_the_source(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing.pw"):
        read_password(password_file=tmp_path / "missing.pw")
    with pytest.raises(InputError, match="SBS_NOT_SET_ANYWHERE"):
        read_password(password_env="SBS_NOT_SET_ANYWHERE")
    empty = tmp_path / "empty.cnf"
    empty.write_text("[mysqld]\nport=1\n")
    with pytest.raises(InputError, match="no password"):
        read_password(option_file=empty)
    with pytest.raises(InputError, match="one of"):
        read_password(password_file=empty, password_env="X")


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
