"""sidebyside.passwords: the one password reader (file, environment variable, MySQL
option file), its rules and its errors, which name the source and never echo it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidebyside.db.endpoint import endpoint_from_url
from sidebyside.errors import InputError
from sidebyside.inventory import SecretRef, resolve_password
from sidebyside.passwords import read_password
from sidebyside.redact import redact


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


@pytest.mark.parametrize("content", ["hunter2-plain\n", "hunter2-plain\npassword=x\n",
                                     "[client]\nhunter2-plain\n=broken\n"])
def test_an_option_file_that_is_a_plain_password_file_is_not_echoed(
        tmp_path: Path, content: str) -> None:
    path = tmp_path / "my.cnf"
    path.write_text(content)
    with pytest.raises(InputError) as caught:
        read_password(option_file=path)
    message = caught.value.message
    assert "hunter2" not in message and str(path) in message
    assert "line" in message or "password" in message


def test_a_password_file_loses_its_line_breaks_and_keeps_its_spaces(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text(" two words \r\n")
    assert read_password(password_file=path) == " two words "
    path.write_text("no-newline")
    assert read_password(password_file=path) == "no-newline"


@pytest.mark.parametrize(("text", "expected"), [
    ("[client]\npassword = spaced out  \n", "spaced out"),
    ("[client]\npassword='quoted pw'\n", "quoted pw"),
    ("[client]\npassword=\"'inner quotes'\"\n", "'inner quotes'"),   # one pair only
    ("[client]\n  user = root\n  password = indented-pw\n", "indented-pw"),
    ("!include /etc/mysql/other.cnf\n[client]\nskip-ssl\npassword=after-bare-key\n",
     "after-bare-key"),
    ("[Client]\npassword=any-case-section\n", "any-case-section"),
    ("[mysqld]\npassword=server-pw\n[mysql]\npassword=mysql-section-pw\n",
     "mysql-section-pw"),
    ("[mysql]\npassword=second\n[client]\npassword=first\n", "first"),
])
def test_option_file_rules(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "my.cnf"
    path.write_text(text)
    assert read_password(option_file=path) == expected


def test_only_client_sections_are_read(tmp_path: Path) -> None:
    path = tmp_path / "my.cnf"
    path.write_text("[mysqld]\npassword=server-side\n[mysqldump]\npassword=dump\n")
    with pytest.raises(InputError, match="no password in \\[client\\]") as caught:
        read_password(option_file=path)
    assert caught.value.hint == "option_file"
    assert "server-side" not in caught.value.message


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_environment_variable_is_refused_naming_the_field(
        monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SBS_TEST_EMPTY_PW", value)
    with pytest.raises(InputError, match="SBS_TEST_EMPTY_PW gives an empty password") as caught:
        read_password(password_env="SBS_TEST_EMPTY_PW", what="new.database")
    assert caught.value.hint == "password_env"
    assert caught.value.message.startswith("new.database: password_env ")


def test_an_unset_variable_and_empty_sources_name_their_field(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SBS_TEST_UNSET_PW", raising=False)
    with pytest.raises(InputError, match="SBS_TEST_UNSET_PW is not set") as caught:
        read_password(password_env="SBS_TEST_UNSET_PW")
    assert caught.value.hint == "password_env"
    blank = tmp_path / "blank"
    blank.write_text("\n")
    with pytest.raises(InputError, match="empty password") as caught:
        read_password(password_file=blank)
    assert caught.value.hint == "password_file"
    cnf = tmp_path / "my.cnf"
    cnf.write_text("[client]\npassword=''\n")
    with pytest.raises(InputError, match="empty password") as caught:
        read_password(option_file=cnf)
    assert caught.value.hint == "option_file"


def test_no_source_is_a_passwordless_account() -> None:
    assert read_password() == ""


def test_the_inventory_and_the_command_line_read_alike(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """resolve_password (inventory) and endpoint_from_url (command line) share the
    reader: the same value, the same refusal of an empty variable."""
    monkeypatch.setenv("SBS_TEST_SHARED_PW", "")
    ref = SecretRef(password_env="SBS_TEST_SHARED_PW")
    with pytest.raises(InputError) as from_inventory:
        resolve_password(ref, "old.database")
    with pytest.raises(InputError) as from_url:
        endpoint_from_url("mysql://root@h:1", password_env="SBS_TEST_SHARED_PW")
    assert from_inventory.value.hint == from_url.value.hint == "password_env"
    assert from_inventory.value.message.startswith("old.database: ")
    path = tmp_path / "pw"
    path.write_text("same-Pw-9\n")
    monkeypatch.setenv("SBS_TEST_SHARED_PW", "same-Pw-9")
    assert resolve_password(ref) == endpoint_from_url(
        "mysql://root@h:1", password_file=path).password == "same-Pw-9"


def test_why_a_password_file_cannot_be_read_survives_redaction(tmp_path: Path) -> None:
    # `<dir>/old-db.password: No such file` reads like a `password: x` line to the
    # redaction, which would mask the reason the operator needs.
    missing = tmp_path / "old-db.password"
    with pytest.raises(InputError) as caught:
        read_password(password_file=missing, what="old.database")
    assert "No such file or directory" in redact(caught.value.message)
    assert str(missing) in redact(caught.value.message)
