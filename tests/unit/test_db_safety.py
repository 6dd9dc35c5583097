"""Issue 15, pure logic of sidebyside.db: errors that never echo a secret, the identity
proofs' decisions, session types, TLS and timeout parameters from the endpoint."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest

from sidebyside.db import identity
from sidebyside.db.client import (
    ReadOnlySession,
    Session,
    TargetSession,
    require_target,
    tls_context,
)
from sidebyside.db.endpoint import (
    DbEndpoint,
    endpoint_from_inventory,
    parse_url,
)
from sidebyside.errors import InputError


# ------------------------------------------------------------------ no echoed secrets
@pytest.mark.parametrize(("url", "host", "secret_parts"), [
    ("mysql://root:p@ss@db1", None, ["ss@db1", "p@ss", "root:"]),
    ("mysql://root:hunter2@db1", "db1", ["hunter2"]),
    ("mysql://root:hunter2@db1.example:3307", "db1.example:3307", ["hunter2"]),
    ("mysql://root:qz/xk@db1", "db1", ["qz", "/xk"]),
    ("mysql://root:a:b@db1", "db1", ["a:b"]),
])
def test_a_password_in_a_url_is_refused_without_any_part_of_it(
        url: str, host: str | None, secret_parts: list[str]) -> None:
    with pytest.raises(InputError) as caught:
        parse_url(url)
    message = caught.value.message
    assert "holds a password" in message
    for part in secret_parts:
        assert part not in message, message
    if host is None:
        assert " for " not in message  # where the password ends is ambiguous: no host
    else:
        assert f" for {host} " in message


def test_a_malformed_url_that_may_hold_a_password_is_not_echoed() -> None:
    with pytest.raises(InputError) as caught:
        parse_url("mysql://root:hunter2")
    assert "hunter2" not in caught.value.message
    with pytest.raises(InputError) as caught:
        parse_url("mysql://u@h:port")  # nothing secret: shown, to help
    assert "'mysql://u@h:port'" in caught.value.message


# ------------------------------------------------------------------ identity decisions
class _FakeSession:
    """A ReadOnlySession stand-in answering the identity queries; user locks live in
    the `server` dict the sessions share when they are 'the same server'."""

    def __init__(self, answers: dict[str, Any], locks: dict[str, int]) -> None:
        self.answers, self.locks = answers, locks
        self.where = "fake"

    def query_one(self, sql: str, args: Any = None) -> tuple[Any, ...] | None:
        if sql.startswith("SELECT @@hostname"):
            return (self.answers["hostname"], self.answers["port"], self.answers["datadir"],
                    "10.11.6-MariaDB")
        if sql.startswith("SHOW GLOBAL STATUS"):
            galera = self.answers.get("galera")
            return ("wsrep_cluster_state_uuid", galera) if galera is not None else None
        if "GET_LOCK" in sql:
            self.locks[args[0]] = 1
            return (1,)
        if "IS_USED_LOCK" in sql:
            return (7,) if args[0] in self.locks else (None,)
        if "RELEASE_LOCK" in sql:
            self.locks.pop(args[0], None)
            return (1,)
        raise AssertionError(sql)

    def value(self, sql: str, args: Any = None) -> Any:
        if sql == "SELECT @@server_uuid":
            if self.answers.get("uuid") is None:
                raise InputError("Unknown system variable 'server_uuid'")
            return self.answers["uuid"]
        row = self.query_one(sql, args)
        return row[0] if row else None

    def __enter__(self) -> _FakeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _servers(monkeypatch: pytest.MonkeyPatch, old: dict[str, Any], new: dict[str, Any],
             *, shared_locks: bool) -> dict[str, int]:
    old_locks: dict[str, int] = {}
    new_locks = old_locks if shared_locks else {}
    by_port = {1: (old, old_locks), 2: (new, new_locks)}

    def open_session(endpoint: DbEndpoint, role: str = "") -> _FakeSession:
        answers, locks = by_port[endpoint.port]
        return _FakeSession(answers, locks)

    monkeypatch.setattr(identity, "ReadOnlySession", open_session)
    return old_locks


OLD = DbEndpoint("db-old", 1, "root", "")
NEW = DbEndpoint("db-new", 2, "root", "")
A = {"hostname": "a", "port": 3306, "datadir": "/var/lib/mysql/"}
B = {"hostname": "b", "port": 3306, "datadir": "/srv/db/"}


def test_different_servers_pass_and_the_lock_is_released(
        monkeypatch: pytest.MonkeyPatch) -> None:
    locks = _servers(monkeypatch, A, B, shared_locks=False)
    old, new = identity.require_distinct_servers(OLD, NEW)
    assert (old.hostname, new.hostname) == ("a", "b")
    assert locks == {}


def test_one_server_behind_two_names_is_refused_by_the_lock(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # MariaDB has no server_uuid: only the shared lock tells they are one
    locks = _servers(monkeypatch, A, A, shared_locks=True)
    with pytest.raises(identity.SameServerError) as caught:
        identity.require_distinct_servers(OLD, NEW)
    message = caught.value.message
    assert caught.value.exit_code == 2
    assert "old.database (db-old:1)" in message and "new.database (db-new:2)" in message
    assert message.count("a:3306 /var/lib/mysql/") == 2
    assert locks == {}  # released on the refusal too


def test_equal_server_uuids_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    _servers(monkeypatch, {**A, "uuid": "u-1"}, {**B, "uuid": "u-1"}, shared_locks=False)
    with pytest.raises(identity.SameServerError, match="server_uuid u-1"):
        identity.require_distinct_servers(OLD, NEW, old_field="--from", new_field="--to")


def test_two_nodes_of_one_galera_cluster_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # user locks are per node: only the cluster's state uuid tells the data is shared
    _servers(monkeypatch, {**A, "galera": "c-9"}, {**B, "galera": "c-9"}, shared_locks=False)
    with pytest.raises(identity.SameServerError, match="Galera cluster"):
        identity.require_distinct_servers(OLD, NEW)
    _servers(monkeypatch, {**A, "galera": "c-9"}, {**B, "galera": "c-8"}, shared_locks=False)
    identity.require_distinct_servers(OLD, NEW)
    _servers(monkeypatch, {**A, "galera": ""}, {**B, "galera": ""}, shared_locks=False)
    identity.require_distinct_servers(OLD, NEW)  # not Galera: empty means nothing


# ------------------------------------------------------------------ session types
def test_session_types_are_distinct_and_only_the_target_writes() -> None:
    assert issubclass(ReadOnlySession, Session) and issubclass(TargetSession, Session)
    assert not issubclass(ReadOnlySession, TargetSession)
    assert not hasattr(ReadOnlySession, "load_stream")
    with pytest.raises(TypeError, match="ReadOnlySession or a TargetSession"):
        Session(DbEndpoint("h"))
    reader = object.__new__(ReadOnlySession)
    with pytest.raises(TypeError, match="needs a TargetSession, not ReadOnlySession"):
        require_target(reader, "copy")
    target = object.__new__(TargetSession)
    assert require_target(target, "copy") is target


# ------------------------------------------------------------------ TLS, timeouts
def test_tls_context_verifies_the_ca_and_the_host(tmp_path: Path) -> None:
    assert tls_context(DbEndpoint("h")) is None
    ca = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")
    if not ca.exists():
        pytest.skip("no system CA bundle to load as a CA file")
    context = tls_context(DbEndpoint("h", tls_ca=str(ca)))
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    with pytest.raises(InputError, match="TLS files cannot be used"):
        tls_context(DbEndpoint("h", tls_ca=str(tmp_path / "missing.pem")))
    with pytest.raises(InputError, match="needs tls.ca"):
        tls_context(DbEndpoint("h", tls_cert="/c.pem", tls_key="/k.pem"))


def test_endpoint_from_inventory_takes_tls_timeouts_and_defaults(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    endpoint = endpoint_from_inventory({
        "host": "db", "port": 3307, "user": "sbs", "password_file": str(pw),
        "tls": {"ca": "/ca.pem", "cert": "/c.pem", "key": "/k.pem"},
        "connect_timeout": 3, "read_timeout": 30.5, "write_timeout": 40})
    assert (endpoint.tls_ca, endpoint.tls_cert, endpoint.tls_key) == \
        ("/ca.pem", "/c.pem", "/k.pem")
    assert (endpoint.connect_timeout, endpoint.read_timeout, endpoint.write_timeout) == \
        (3.0, 30.5, 40.0)
    plain = endpoint_from_inventory({"host": "db", "password_file": str(pw)})
    assert (plain.tls_ca, plain.connect_timeout, plain.read_timeout, plain.write_timeout) \
        == (None, 10.0, 900.0, 900.0)


def test_endpoint_from_the_inventory_model(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from sidebyside.inventory import DatabaseModel

    monkeypatch.setenv("SBS_TEST_DB_PW", "pw-from-env")
    model = DatabaseModel(host="db", port=3307, password_env="SBS_TEST_DB_PW",
                          tls={"ca": "/ca.pem"}, read_timeout="2m", connect_timeout=3)
    endpoint = endpoint_from_inventory(model)
    assert (endpoint.host, endpoint.port, endpoint.password) == ("db", 3307, "pw-from-env")
    assert (endpoint.tls_ca, endpoint.tls_cert) == ("/ca.pem", None)
    assert (endpoint.connect_timeout, endpoint.read_timeout, endpoint.write_timeout) == \
        (3.0, 120.0, 900.0)
