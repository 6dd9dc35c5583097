"""The old side is never written (issue 15), against real MariaDB servers:

* one server reached under two names is refused before anything changes;
* old-side sessions are read-only on the server, and cannot be passed as targets;
* LOAD DATA LOCAL sends only the stream sbs opened;
* a half-open connection fails in bounded time with exit 8.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sidebyside.db import DbEndpoint, schema
from sidebyside.db.client import ReadOnlySession, SnapshotReader, TargetSession
from sidebyside.db.identity import SameServerError, require_distinct_servers, server_identity
from sidebyside.db.mariadb_server import MariaDBServer
from sidebyside.db.sql import load_data_sql
from sidebyside.errors import SbsError
from tests.integration.db.relay import relay

pytestmark = pytest.mark.integration

SBS = str(Path(sys.executable).parent / "sbs")
PRECIOUS_ROWS = 2000


@pytest.fixture(scope="module")
def loopback_server(db_root: Path) -> Iterator[MariaDBServer]:
    """One server on 127.0.0.1, so that `localhost` reaches it too (the issue's alias),
    holding a database `precious` the tests must never change."""
    server = MariaDBServer(db_root / "loopback", host="127.0.0.1", name="loopback")
    server.start()
    try:
        connection = server.connect()
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE precious")
            cursor.execute("CREATE TABLE precious.t (id INT PRIMARY KEY, v VARCHAR(40))")
            cursor.execute("INSERT INTO precious.t SELECT seq, CONCAT('row ', seq) "
                           f"FROM precious.seq_1_to_{PRECIOUS_ROWS}")
            cursor.execute("CREATE TABLE precious.loaded (line VARCHAR(200))")
        connection.commit()
        connection.close()
        yield server
    finally:
        server.stop()


@pytest.fixture()
def endpoint(loopback_server: MariaDBServer) -> DbEndpoint:
    return DbEndpoint("127.0.0.1", loopback_server.port, "root", loopback_server.root_password)


@pytest.fixture()
def password_file(loopback_server: MariaDBServer, tmp_path: Path) -> Path:
    path = tmp_path / "pw"
    path.write_text(loopback_server.root_password + "\n")
    path.chmod(0o600)
    return path


def _fingerprint(server: MariaDBServer) -> tuple[Any, ...]:
    """CHECKSUM TABLE and row count of `precious`, and its tables: read by the driver."""
    connection = server.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW TABLES FROM precious")
            tables = sorted(r[0] for r in cursor.fetchall())
            cursor.execute("CHECKSUM TABLE precious.t, precious.loaded")
            sums = sorted(cursor.fetchall())
            cursor.execute("SELECT COUNT(*) FROM precious.t")
            count = cursor.fetchone()[0]
        return tuple(tables), tuple(sums), count
    finally:
        connection.close()


def _sbs(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SBS, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "NO_COLOR": "1", "COLUMNS": "400"}, check=False)


# ------------------------------------------------------------------ identity
@pytest.mark.parametrize("alias", ["localhost", "relay"])
def test_db_copy_onto_its_own_source_under_another_name_is_refused_and_changes_nothing(
        loopback_server: MariaDBServer, password_file: Path, tmp_path: Path,
        alias: str) -> None:
    before = _fingerprint(loopback_server)
    assert before[2] == PRECIOUS_ROWS
    identity = server_identity(DbEndpoint("127.0.0.1", loopback_server.port, "root",
                                          loopback_server.root_password))
    with relay(("127.0.0.1", loopback_server.port)) as vip:
        # `localhost` is the repro; the relay is a VIP/proxy in front of the node
        to = (f"mysql://root@localhost:{loopback_server.port}" if alias == "localhost"
              else f"mysql://root@127.0.0.1:{vip.port}")
        result = _sbs("db", "copy", "--from", f"mysql://root@127.0.0.1:{loopback_server.port}",
                      "--to", to, "--password-file", str(password_file),
                      "--databases", "precious", "--replace",
                      "--state-dir", str(tmp_path / "state"))
    text = result.stdout + result.stderr
    assert result.returncode == 2, text
    assert "--from" in text and "--to" in text and "same server" in text
    # both sides described by what the server says, not by what we dialled
    described = f"{identity.hostname}:{loopback_server.port} {identity.datadir}"
    assert text.count(described) == 2, text
    assert "Traceback" not in text
    assert loopback_server.root_password not in text
    assert _fingerprint(loopback_server) == before
    assert not (tmp_path / "state").exists()


def test_two_servers_are_told_apart_and_leave_no_identity_lock(
        endpoint: DbEndpoint, source: DbEndpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    from sidebyside.db import identity

    monkeypatch.setattr(identity.secrets, "token_hex", lambda n: "feed" * (n // 2))
    name = identity.LOCK_PREFIX + "feed" * 8
    old, new = require_distinct_servers(endpoint, source)
    assert old.port == endpoint.port and new.port == source.port
    assert old.datadir != new.datadir and old.server_uuid is None  # MariaDB: no uuid
    assert old.galera_cluster is None
    with ReadOnlySession(endpoint) as session:
        assert session.value("SELECT IS_FREE_LOCK(%s)", (name,)) == 1


def test_same_server_error_names_both_fields(endpoint: DbEndpoint) -> None:
    alias = DbEndpoint("localhost", endpoint.port, "root", endpoint.password)
    with pytest.raises(SameServerError) as caught:
        require_distinct_servers(endpoint, alias)
    assert caught.value.exit_code == 2
    message = caught.value.message
    assert "old.database (127.0.0.1:" in message and "new.database (localhost:" in message
    assert "@@" not in message and str(endpoint.port) in message


# ------------------------------------------------------------------ read-only sessions
def test_a_write_through_a_read_only_session_is_refused_by_the_server(
        endpoint: DbEndpoint, loopback_server: MariaDBServer) -> None:
    before = _fingerprint(loopback_server)
    for session_type in (ReadOnlySession, SnapshotReader):
        with session_type(endpoint) as session:
            assert session.value("SELECT @@SESSION.tx_read_only") == 1
            for statement in ("INSERT INTO precious.t VALUES (999999, 'x')",
                              "UPDATE precious.t SET v = 'changed'",
                              "DELETE FROM precious.t"):
                with pytest.raises(SbsError) as caught:
                    session.execute(statement)
                assert "READ ONLY" in caught.value.message.upper()
            with pytest.raises(SbsError):
                session.execute("LOAD DATA LOCAL INFILE '/etc/hostname' "
                                "INTO TABLE precious.loaded")
    assert _fingerprint(loopback_server) == before


def test_a_read_only_session_cannot_be_passed_as_a_target(endpoint: DbEndpoint,
                                                          loopback_server: MariaDBServer
                                                          ) -> None:
    before = _fingerprint(loopback_server)
    with ReadOnlySession(endpoint) as session:
        assert not hasattr(session, "load_stream")
        with pytest.raises(TypeError, match="TargetSession"):
            schema.create_table(session, "precious", "t",  # type: ignore[arg-type]
                                "CREATE TABLE t (id INT)")
        with pytest.raises(TypeError, match="TargetSession"):
            schema.create_database(session, session, "precious")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="TargetSession"):
            schema.apply_accounts(session, [])  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="TargetSession"):
            TargetSession.load_stream(session, lambda f: "", lambda w: None)  # type: ignore[arg-type]
    assert _fingerprint(loopback_server) == before


# ------------------------------------------------------------------ LOAD DATA LOCAL
def _loaded(endpoint: DbEndpoint) -> int:
    with ReadOnlySession(endpoint) as session:
        return int(session.value("SELECT COUNT(*) FROM precious.loaded"))


def test_load_data_local_of_a_file_sbs_did_not_open_is_refused(endpoint: DbEndpoint,
                                                               tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("do not send me\n")
    with TargetSession(endpoint) as target:
        for path in ("/etc/hostname", str(secret)):
            with pytest.raises(SbsError) as caught:
                target.execute(f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE precious.loaded")
            assert path in caught.value.message and "refused" in caught.value.message
            # the session is still usable, and nothing was loaded
            assert target.value("SELECT 1") == 1
        assert _loaded(endpoint) == 0

        # a statement naming another file than the stream load_stream opened
        with pytest.raises(SbsError) as caught:
            target.load_stream(lambda infile: f"LOAD DATA LOCAL INFILE '{secret}' "
                                              f"INTO TABLE precious.loaded",
                               lambda write: write(b"from the stream\n"))
        assert str(secret) in caught.value.message
        assert _loaded(endpoint) == 0

        # the stream sbs opened goes through
        [table] = [t for t in schema.read_tables(target, "precious") if t.name == "loaded"]
        rows = target.load_stream(lambda infile: load_data_sql(table, infile),
                                  lambda write: write(b"one\ntwo\n"))
        assert rows == 2 and _loaded(endpoint) == 2
        target.execute("DELETE FROM precious.loaded")


# ------------------------------------------------------------------ timeouts
def test_a_half_open_connection_fails_in_bounded_time_with_exit_8(
        loopback_server: MariaDBServer, password_file: Path, source: DbEndpoint) -> None:
    with relay(("127.0.0.1", loopback_server.port), freeze_after_login=True) as half_open:
        started = time.monotonic()
        result = _sbs("db", "verify", "--from", f"mysql://root@127.0.0.1:{half_open.port}",
                      "--to", f"mysql://root@127.0.0.1:{loopback_server.port}",
                      "--password-file", str(password_file), "--databases", "precious",
                      "--connect-timeout", "3", "--read-timeout", "2", "--write-timeout", "2",
                      timeout=60)
        elapsed = time.monotonic() - started
        assert half_open.frozen.is_set()  # the login went through, then nothing moved
    text = result.stdout + result.stderr
    assert result.returncode == 8, text
    assert f"127.0.0.1:{half_open.port}" in text and "Traceback" not in text
    assert elapsed < 30, elapsed


def test_a_connection_dying_half_open_mid_copy_fails_the_copy_with_exit_8(
        loopback_server: MariaDBServer, target_server: MariaDBServer, password_file: Path,
        tmp_path: Path) -> None:
    """The worker's LOAD DATA goes into a connection that stops answering: the copy
    ends, exit 8, within the read timeout, not a worker hung forever."""
    target_pw = tmp_path / "target-pw"
    target_pw.write_text(target_server.root_password)
    target_pw.chmod(0o600)
    with relay((target_server.host, target_server.port), freeze_on=b"LOAD DATA") as dying:
        started = time.monotonic()
        result = _sbs("db", "copy", "--from", f"mysql://root@127.0.0.1:{loopback_server.port}",
                      "--to", f"mysql://root@127.0.0.1:{dying.port}",
                      "--from-password-file", str(password_file),
                      "--to-password-file", str(target_pw), "--databases", "precious",
                      "--skip-users", "--workers", "1", "--read-timeout", "3",
                      "--write-timeout", "3", "--state-dir", str(tmp_path / "state"),
                      timeout=90)
        elapsed = time.monotonic() - started
        assert dying.frozen.is_set()  # the copy got as far as loading data
    text = result.stdout + result.stderr
    assert result.returncode == 8, text
    assert f"127.0.0.1:{dying.port}" in text and "Traceback" not in text
    assert elapsed < 45, elapsed


def test_the_pre_flight_probe_session_is_read_only(loopback_server: MariaDBServer,
                                                  password_file: Path) -> None:
    from sidebyside.db import server_facts
    from sidebyside.inventory import DatabaseModel

    before = _fingerprint(loopback_server)
    model = DatabaseModel(host="127.0.0.1", port=loopback_server.port, user="root",
                          password_file=str(password_file), read_timeout=30)
    with server_facts.probe_session(model, "old.database") as conn:
        assert isinstance(conn, ReadOnlySession)
        assert conn.endpoint.read_timeout == 30 and conn.endpoint.connect_timeout <= 5
        assert "precious" in server_facts.existing_databases(conn)
        assert server_facts.database_sizes(conn, ["precious"])["precious"] > 0
        with pytest.raises(SbsError, match="READ ONLY"):
            conn.execute("DELETE FROM precious.t")
    assert _fingerprint(loopback_server) == before


def test_session_timeouts_come_from_the_endpoint(endpoint: DbEndpoint) -> None:
    from dataclasses import replace

    bounded = replace(endpoint, connect_timeout=4.0, read_timeout=7.0, write_timeout=8.0)
    for session_type in (ReadOnlySession, TargetSession):
        with session_type(bounded) as session:
            connection: Any = session._connection
            assert (connection.connect_timeout, connection._read_timeout,
                    connection._write_timeout) == (4.0, 7.0, 8.0)
