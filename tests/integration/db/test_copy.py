"""The database copy against real MariaDB servers."""

from __future__ import annotations

import datetime
import json
import threading
from pathlib import Path
from typing import Any

import pymysql
import pytest

from sidebyside.db import (
    DbEndpoint,
    ProgressEvent,
    copy_databases,
    copy_is_verified,
    require_verified,
    schema,
)
from sidebyside.db.client import ReadOnlySession
from sidebyside.db.mariadb_server import MariaDBServer
from sidebyside.db.sql import checksum_sql, text_needs_cast
from sidebyside.db.verify import verify_databases
from sidebyside.errors import (
    DataLossRefused,
    InputError,
    PreflightError,
    SbsError,
    UnreachableError,
    VerificationError,
)
from tests.integration.db import tricky

pytestmark = pytest.mark.integration

TRICKY = list(tricky.DATABASES)


def _connect(endpoint: DbEndpoint, **kw: Any) -> pymysql.connections.Connection:
    connection = pymysql.connect(host=endpoint.host, port=endpoint.port, user=endpoint.user,
                                 password=endpoint.password, charset="utf8mb4", **kw)
    with connection.cursor() as cursor:
        cursor.execute("SET time_zone = '+00:00'")
    return connection


def _query(endpoint: DbEndpoint, sql: str) -> list[tuple[Any, ...]]:
    connection = _connect(endpoint)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall())
    finally:
        connection.close()


def _all_rows(endpoint: DbEndpoint, database: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every base table, decoded by the driver (independent of sbs)."""
    tables = [r[0] for r in _query(endpoint, f"SELECT TABLE_NAME FROM information_schema.TABLES "
                                             f"WHERE TABLE_SCHEMA = '{database}' AND "
                                             f"TABLE_TYPE = 'BASE TABLE'")]
    result = {}
    for table in tables:
        rows = _query(endpoint, f"SELECT * FROM `{database}`.`{table}`")
        result[table] = sorted(rows, key=repr)
    return result


def _without_times(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [tuple(v for v in row if not isinstance(v, datetime.datetime)) for row in rows]


def _source_fingerprint(source: DbEndpoint) -> tuple[Any, ...]:
    """Binlog position, GTID and CHECKSUM TABLE of everything: proof nothing was written."""
    tables = _query(source, "SELECT CONCAT('`', TABLE_SCHEMA, '`.`', TABLE_NAME, '`') FROM "
                            "information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND "
                            "TABLE_SCHEMA NOT IN ('mysql', 'information_schema', "
                            "'performance_schema', 'sys')")
    checksums = _query(source, "CHECKSUM TABLE " + ", ".join(t[0] for t in tables) + " EXTENDED")
    return (_query(source, "SHOW MASTER STATUS"), _query(source, "SELECT @@gtid_binlog_pos"),
            sorted(checksums))


def test_tricky_databases_copy_exactly_and_source_is_never_written(
        source: DbEndpoint, target: DbEndpoint, tmp_path: Path) -> None:
    before = _source_fingerprint(source)
    events: list[ProgressEvent] = []
    report = copy_databases(source, target, TRICKY, state_dir=tmp_path, progress=events.append,
                            rows_per_chunk=500)
    assert report.status == "verified"
    assert copy_is_verified(tmp_path, TRICKY, target=target.url)
    require_verified(tmp_path, ["tricky"])
    assert _source_fingerprint(source) == before

    for database in TRICKY:
        assert _all_rows(target, database) == _all_rows(source, database), database
    # the 2000-row table went in several PK-range chunks
    old_style = next(t for t in report.tables if t.table == "tricky_api.old_style")
    assert old_style.chunks > 1 and old_style.rows == 2000
    # AUTO_INCREMENT counters (with their gaps), definitions, code objects
    auto = ("SELECT TABLE_NAME, AUTO_INCREMENT, ROW_FORMAT, TABLE_COLLATION FROM "
            "information_schema.TABLES WHERE TABLE_SCHEMA IN ('tricky', 'tricky_api') ORDER BY 1")
    assert _query(target, auto) == _query(source, auto)
    for statement in ("SHOW CREATE TABLE tricky.values_", "SHOW CREATE VIEW tricky.parent_counts",
                      "SHOW CREATE TRIGGER tricky.values_audit",
                      "SHOW CREATE FUNCTION tricky.double_it",
                      "SHOW CREATE PROCEDURE tricky.count_values",
                      "SHOW CREATE EVENT tricky.nightly", "SHOW CREATE DATABASE tricky_api"):
        # (a trigger's `Created` time is when it was created on the target)
        assert _without_times(_query(target, statement)) == \
            _without_times(_query(source, statement)), statement
    assert report.objects == {"views": 2, "triggers": 1, "routines": 2, "events": 1}
    # the service account can log in to the target with its old password
    service = DbEndpoint(target.host, target.port, "tricky_svc", "svc-password-123")
    assert _query(service, "SELECT COUNT(*) FROM tricky.parents") == [(3,)]
    # the trigger works on the target after the copy (it did not fire during the load)
    audit_before = _query(target, "SELECT COUNT(*) FROM tricky.audit")[0][0]
    assert audit_before == len(tricky.ROWS)
    connection = _connect(target, autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO tricky.values_ (parent_id) VALUES (1)")
        cursor.execute("SELECT MAX(id) FROM tricky.values_")
        assert cursor.fetchone()[0] == 5000  # AUTO_INCREMENT=5000 survived the copy
    connection.close()
    assert _query(target, "SELECT COUNT(*) FROM tricky.audit")[0][0] == audit_before + 1
    # progress: a plan, per-table data events, a final event
    kinds = {e.kind for e in events}
    assert {"plan", "table", "data", "table-done", "done"} <= kinds
    assert sum(e.rows for e in events if e.kind == "data") == report.rows
    json.dumps(report.to_dict())


def test_corrupted_target_row_is_detected(source: DbEndpoint, target: DbEndpoint,
                                          tmp_path: Path) -> None:
    copy_databases(source, target, ["tricky_api"], state_dir=tmp_path, rows_per_chunk=500)
    assert copy_is_verified(tmp_path)
    connection = _connect(target, autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute("SET sql_log_bin = 0")
        cursor.execute("UPDATE tricky_api.old_style SET note = 'tampered' WHERE id = 1500")
    connection.close()
    with pytest.raises(VerificationError) as caught:
        verify_databases(source, target, ["tricky_api"], state_dir=tmp_path,
                         rows_per_chunk=500)
    assert "tricky_api.old_style" in caught.value.message
    assert caught.value.exit_code == 9
    assert not copy_is_verified(tmp_path)
    with pytest.raises(VerificationError):
        require_verified(tmp_path)
    # a NULL turned into '' is a difference too
    connection = _connect(target, autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE tricky_api.old_style SET note = NULL WHERE id = 1500")
        cursor.execute("UPDATE tricky_api.old_style SET note = '' WHERE id = 1501")
    connection.close()
    report = verify_databases(source, target, ["tricky_api"], raise_on_mismatch=False)
    assert not report.equal and report.tables["tricky_api.old_style"]["mismatched_chunks"]


def test_target_killed_mid_copy_then_resume_copies_only_the_rest(
        source: DbEndpoint, target_server: MariaDBServer, target: DbEndpoint,
        tmp_path: Path) -> None:
    committed: list[str] = []
    killed = threading.Event()

    def kill_after_some_chunks(event: ProgressEvent) -> None:
        if event.kind == "data" and event.rows and event.table == "bulk.items":
            committed.append(event.table)
            if len(committed) == 3 and not killed.is_set():
                killed.set()
                target_server.kill()  # SIGKILL by recorded PID

    with pytest.raises(SbsError) as caught:
        copy_databases(source, target, ["bulk"], state_dir=tmp_path, workers=2,
                       rows_per_chunk=10_000, progress=kill_after_some_chunks)
    assert killed.is_set()
    assert isinstance(caught.value, UnreachableError), caught.value
    assert not copy_is_verified(tmp_path)
    state = json.loads((tmp_path / "db-copy.json").read_text())
    verified_before = len(state["tables"]["bulk.items"]["verified"])
    total_chunks = len(state["tables"]["bulk.items"]["chunks"])
    assert 3 <= verified_before < total_chunks

    target_server.start()
    report = copy_databases(source, target, ["bulk"], state_dir=tmp_path, workers=2,
                            rows_per_chunk=10_000)
    items = next(t for t in report.tables if t.table == "bulk.items")
    assert report.resumed and report.status == "verified"
    assert items.chunks_skipped == verified_before
    assert items.chunks_copied == total_chunks - verified_before
    assert items.rows == 200_000
    assert verify_databases(source, target, ["bulk"]).equal
    indexes = _query(target, "SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE "
                             "TABLE_SCHEMA = 'bulk' AND TABLE_NAME = 'items' ORDER BY 1")
    assert indexes == [("PRIMARY",), ("idx_owner",)] or sorted(indexes) == sorted(
        [("PRIMARY",), ("idx_owner",)])


def test_rerun_after_source_changed_recopies_only_changed_chunks(
        target: DbEndpoint, tmp_path: Path, server_factory: Any) -> None:
    # a private source: this test writes to it
    own = server_factory("source-changing")
    own_source = DbEndpoint(own.host, own.port, "root", own.root_password)
    connection = own.connect(autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute("CREATE DATABASE svc")
        cursor.execute("CREATE TABLE svc.t (id INT PRIMARY KEY, v VARCHAR(20))")
        cursor.execute("INSERT INTO svc.t SELECT seq, CONCAT('v', seq) FROM svc.seq_1_to_5000")
        cursor.execute("ANALYZE TABLE svc.t")
        cursor.fetchall()
    first = copy_databases(own_source, target, ["svc"], state_dir=tmp_path, rows_per_chunk=1000)
    assert first.status == "verified"
    with connection.cursor() as cursor:
        cursor.execute("UPDATE svc.t SET v = 'changed' WHERE id = 4500")
    connection.close()
    second = copy_databases(own_source, target, ["svc"], state_dir=tmp_path, rows_per_chunk=1000)
    table = second.tables[0]
    assert second.resumed and second.status == "verified"
    assert table.chunks_copied == 1 and table.chunks_skipped == table.chunks - 1
    assert _query(target, "SELECT v FROM svc.t WHERE id = 4500") == [("changed",)]


def test_non_empty_target_is_refused_unless_replace(source: DbEndpoint, target: DbEndpoint,
                                                    tmp_path: Path) -> None:
    connection = _connect(target, autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute("CREATE DATABASE tricky_api")
        cursor.execute("CREATE TABLE tricky_api.precious (id INT PRIMARY KEY)")
        cursor.execute("INSERT INTO tricky_api.precious VALUES (1)")
    connection.close()
    with pytest.raises(DataLossRefused) as caught:
        copy_databases(source, target, ["tricky_api"], state_dir=tmp_path)
    assert "tricky_api" in caught.value.message and caught.value.exit_code == 10
    assert _query(target, "SELECT * FROM tricky_api.precious") == [(1,)]
    assert not copy_is_verified(tmp_path)
    report = copy_databases(source, target, ["tricky_api"], state_dir=tmp_path, replace=True)
    assert report.status == "verified"
    assert _query(target, "SHOW TABLES FROM tricky_api") == [("old_style",)]


def test_wrong_password_is_a_clear_error_without_the_password(
        source: DbEndpoint, target: DbEndpoint, tmp_path: Path) -> None:
    wrong = DbEndpoint(source.host, source.port, "root", "not-the-password-42")
    with pytest.raises(UnreachableError) as caught:
        copy_databases(wrong, target, ["tricky"], state_dir=tmp_path)
    assert "access denied" in caught.value.message
    assert source.address in caught.value.message
    assert "not-the-password-42" not in str(caught.value.to_dict())
    assert not (tmp_path / "db-copy.json").exists()


def test_unreachable_server(target: DbEndpoint, tmp_path: Path) -> None:
    port = MariaDBServer.find_free_port("127.0.0.1")
    nowhere = DbEndpoint("127.0.0.1", port, "root", "whatever-pass")
    with pytest.raises(UnreachableError) as caught:
        copy_databases(nowhere, target, None, state_dir=tmp_path)
    assert f"127.0.0.1:{port}" in caught.value.message and caught.value.exit_code == 8


def test_missing_database_and_missing_privileges(source: DbEndpoint, source_server: MariaDBServer,
                                                 target: DbEndpoint, tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        copy_databases(source, target, ["tricky", "no_such_db"], state_dir=tmp_path)
    assert "no_such_db" in caught.value.message
    connection = source_server.connect(autocommit=True)
    with connection.cursor() as cursor:  # the fixture's source: accounts are not data
        cursor.execute("SET sql_log_bin = 0")
        cursor.execute("CREATE USER IF NOT EXISTS 'reader'@'%' IDENTIFIED BY 'reader-pw-1'")
        cursor.execute("GRANT SELECT ON tricky_api.* TO 'reader'@'%'")
    connection.close()
    weak = DbEndpoint(source.host, source.port, "reader", "reader-pw-1")
    with pytest.raises(PreflightError) as denied:
        copy_databases(weak, target, ["tricky_api"], state_dir=tmp_path)
    assert "RELOAD" in denied.value.message and denied.value.exit_code == 3
    assert not copy_is_verified(tmp_path)


@pytest.fixture()
def small_disk_target(tmp_path: Path) -> Any:
    """A target whose datadir lives on a 64 MB tmpfs: room for the system tables only."""
    import subprocess

    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs",
                              str(mount_point)], capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    server = MariaDBServer(mount_point / "db", host="127.0.0.78", name="small-disk", options={
        "innodb_flush_method": "fsync", "innodb_log_file_size": "8M",
        "innodb_buffer_pool_size": "32M", "innodb_undo_tablespaces": "0"})
    try:
        server.start()
        yield server
    finally:
        server.stop()
        subprocess.run(["umount", str(mount_point)], check=False)


def test_target_disk_full_is_a_clear_error_and_nothing_is_verified(
        source: DbEndpoint, small_disk_target: MariaDBServer, tmp_path: Path) -> None:
    target = DbEndpoint(small_disk_target.host, small_disk_target.port, "root",
                        small_disk_target.root_password)
    with pytest.raises(SbsError) as caught:
        copy_databases(source, target, ["bulk"], state_dir=tmp_path / "state",
                       rows_per_chunk=20_000)
    assert caught.value.exit_code == 4, caught.value
    assert "disk full" in caught.value.message and target.address in caught.value.message
    assert not copy_is_verified(tmp_path / "state")
    state = json.loads((tmp_path / "state" / "db-copy.json").read_text())
    assert state["status"] == "failed" and "disk full" in state["error"]


def test_checksum_tells_null_from_empty_in_every_nullable_column(target: DbEndpoint) -> None:
    # CONCAT_WS skips NULLs: without the flags, (NULL, 'x') and ('x', NULL) would hash
    # alike, and so would NULL and ''.
    connection = _connect(target, autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute("DROP DATABASE IF EXISTS nullflags")
        cursor.execute("CREATE DATABASE nullflags")
        cursor.execute("CREATE TABLE nullflags.t (id INT PRIMARY KEY, must VARCHAR(5) NOT "
                       "NULL, a VARCHAR(5) NULL, b VARCHAR(5) NULL)")
    session = ReadOnlySession(target)
    [table] = schema.read_tables(session, "nullflags")
    assert [c.nullable for c in table.columns] == [False, False, True, True]
    sql = checksum_sql(table, table.chunks[0])
    assert "ISNULL(`must`)" not in sql and "ISNULL(`a`)" in sql
    seen = {}
    for a, b in ((None, ""), ("", None), ("x", None), (None, "x"), (None, None), ("", "")):
        with connection.cursor() as cursor:
            cursor.execute("REPLACE INTO nullflags.t VALUES (1, 'm', %s, %s)", (a, b))
        seen[(a, b)] = session.query_one(sql)
    assert len(set(seen.values())) == len(seen), seen
    session.close()
    with connection.cursor() as cursor:
        cursor.execute("DROP DATABASE nullflags")
    connection.close()


def test_checksum_without_casts_hashes_the_same_bytes_and_mixed_collations_keep_them(
        target: DbEndpoint) -> None:
    # One collation: CONCAT_WS takes the column bytes as they are, so dropping the
    # CASTs changes the cost, not the hash. Two collations: the CASTs stay, otherwise
    # the server would refuse the mix ("Illegal mix of collations").
    connection = _connect(target, autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute("DROP DATABASE IF EXISTS casts")
        cursor.execute("CREATE DATABASE casts")
        cursor.execute("CREATE TABLE casts.one (id INT PRIMARY KEY, a VARCHAR(20), b TEXT, "
                       "c ENUM('x','ü'), d DATETIME, e VARBINARY(8)) "
                       "CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
        cursor.execute("INSERT INTO casts.one VALUES (1, 'Ürün 🙂', 'tab\\there', 'ü', "
                       "'2024-02-29 12:00:00', x'00ff'), (2, '', NULL, 'x', NULL, NULL)")
        cursor.execute("CREATE TABLE casts.mixed (id INT PRIMARY KEY, "
                       "a VARCHAR(20) COLLATE utf8mb4_bin, b VARCHAR(20) COLLATE "
                       "utf8mb4_general_ci) CHARACTER SET utf8mb4")
        cursor.execute("INSERT INTO casts.mixed VALUES (1, 'a', 'B')")
    session = ReadOnlySession(target)
    tables = {t.name: t for t in schema.read_tables(session, "casts")}
    one, mixed = tables["one"], tables["mixed"]
    assert {c.collation for c in one.columns if c.family == "quoted"} == \
        {"utf8mb4_general_ci"}
    assert not text_needs_cast(one.columns) and text_needs_cast(mixed.columns)
    uncast = checksum_sql(one, one.chunks[0])
    assert "CAST(`a` AS BINARY)" not in uncast
    cast = uncast.replace("`a`, `b`, `c`", "CAST(`a` AS BINARY), CAST(`b` AS BINARY), "
                          "CAST(`c` AS BINARY)", 1)
    assert cast != uncast
    assert session.query_one(uncast) == session.query_one(cast)
    assert session.query_one(uncast)[0] == 2
    assert "CAST(`a` AS BINARY)" in checksum_sql(mixed, mixed.chunks[0])
    assert session.query_one(checksum_sql(mixed, mixed.chunks[0]))[0] == 1
    session.close()
    with connection.cursor() as cursor:
        cursor.execute("DROP DATABASE casts")
    connection.close()


def test_a_piece_cut_by_group_concat_is_read_again_row_by_row(source: DbEndpoint) -> None:
    """The reader's grouped pieces and its row-by-row path give the same bytes; a piece
    longer than the value limit (the 70 kB blob) is detected and read by rows."""
    from sidebyside.db.client import SnapshotReader
    from sidebyside.db.sql import Chunk, select_lines_sql

    with ReadOnlySession(source) as control:
        tables = {t.name: t for t in schema.read_tables(control, "tricky")}
    values = tables["values_"]

    def read(**options: Any) -> tuple[bytes, int, tuple[int, int, int]]:
        parts: list[bytes] = []
        reader = SnapshotReader(source, **options)
        try:
            streamed = reader.stream_chunk(values, Chunk(0),
                                           lambda piece: parts.append(bytes(piece)))
            assert streamed.size == sum(len(p) for p in parts)
            return b"".join(parts), reader.read_by_rows, streamed.checksum
        finally:
            reader.close()

    whole, by_rows, checksum = read()
    assert by_rows == 0
    cut, by_rows_small, checksum_small = read(piece_bytes=100, value_limit=1024)
    assert by_rows_small >= 1
    assert cut == whole
    reader = SnapshotReader(source)
    try:
        lines = [row[0] for row in reader.query(select_lines_sql(values, Chunk(0)))]
        whole_checksum = tuple(int(v) for v in reader.query(checksum_sql(values, Chunk(0)))[0])
    finally:
        reader.close()
    assert whole == b"".join(line + b"\n" for line in lines)
    assert len(lines) == len(tricky.ROWS)
    # the pieces' checksums, combined, are the checksum of the whole chunk
    assert checksum == checksum_small == whole_checksum
    assert checksum[0] == len(tricky.ROWS)
    assert b"x" * 70000 in whole
