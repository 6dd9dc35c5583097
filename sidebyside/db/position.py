"""Where a database server stands (read_position: binlog file/position and GTID), and
what changed since: the copy records it at its snapshot; rollback uses it to tell
whether the new side took writes after cutover (which switching back would lose)."""

from __future__ import annotations

import time
from typing import Any

from sidebyside.db import schema
from sidebyside.db.checksum import chunk_checksum
from sidebyside.db.client import ReadOnlySession, Session, text_of
from sidebyside.db.endpoint import DbEndpoint
from sidebyside.db.errors import InputError, SbsError
from sidebyside.db.sql import TableInfo, quote_ident


def record_position(endpoint: DbEndpoint, databases: list[str] | None = None, *,
                    checksums: bool = True) -> dict[str, Any]:
    """Binlog/GTID position and, per table, row count, highest integer PK and (with
    `checksums`) a whole-table CRC32 checksum, all from one consistent snapshot.

    JSON-able; give it back to `changes_since`. Raises UnreachableError, InputError.
    """
    with ReadOnlySession(endpoint, role="database") as session:
        names = schema.resolve_databases(session, databases)
        position = read_position(session)
        session.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        tables = {t.key: _table_state(session, t, checksums)
                  for d in names for t in schema.read_tables(session, d)}
        session.execute("COMMIT")
    return {"endpoint": endpoint.url, "databases": names, "taken_at": time.time(),
            "checksums": checksums, **position, "tables": tables}


def _table_state(session: Session, table: TableInfo, checksums: bool) -> dict[str, Any]:
    name = f"{quote_ident(table.database)}.{quote_ident(table.name)}"
    state: dict[str, Any] = {"rows": int(session.value(f"SELECT COUNT(*) FROM {name}") or 0),
                             "max_pk": None, "pk": table.range_column}
    if table.range_column:
        value = session.value(f"SELECT MAX({quote_ident(table.range_column)}) FROM {name}")
        state["max_pk"] = None if value is None else int(value)
    if checksums:
        state["checksum"] = chunk_checksum(session, table, table.chunks[0])
    return state


def changes_since(endpoint: DbEndpoint, position: dict[str, Any]) -> dict[str, Any]:
    """Compare the server now with `position` (from record_position).

    Returns {"changed": bool, "binlog_moved": bool | None, "tables": {table: {...}}} where
    each changed table reports rows_then/rows_now, rows_added_after_max_pk (rows whose
    PK is above the recorded maximum: written since) and content_changed (checksum).
    Tables created or dropped since are reported as such. Raises InputError when the
    position is not of this kind.
    """
    if "tables" not in position or "databases" not in position:
        raise InputError("position: not a record_position() result (no tables/databases)")
    now = record_position(endpoint, None, checksums=bool(position.get("checksums", True)))
    known = set(position["databases"])
    tables: dict[str, dict[str, Any]] = {}
    with ReadOnlySession(endpoint, role="database") as session:
        for key, then in position["tables"].items():
            current = now["tables"].get(key)
            if current is None:
                tables[key] = {"status": "dropped", "rows_then": then["rows"]}
                continue
            entry = _compare(session, key, then, current)
            if entry:
                tables[key] = entry
    for key, current in now["tables"].items():
        if key not in position["tables"] and key.split(".", 1)[0] in known:
            tables[key] = {"status": "created", "rows_now": current["rows"]}
    binlog_moved: bool | None = None
    if position.get("gtid") is not None or position.get("binlog_file") is not None:
        binlog_moved = any(position.get(k) != now.get(k)
                           for k in ("binlog_file", "binlog_pos", "gtid"))
    return {"changed": bool(tables), "binlog_moved": binlog_moved,
            "position_then": {k: position.get(k) for k in ("binlog_file", "binlog_pos", "gtid")},
            "position_now": {k: now.get(k) for k in ("binlog_file", "binlog_pos", "gtid")},
            "tables": tables}


def _compare(session: Session, key: str, then: dict[str, Any],
             current: dict[str, Any]) -> dict[str, Any] | None:
    content_changed = ("checksum" in then and "checksum" in current
                       and then["checksum"] != current["checksum"])
    if then["rows"] == current["rows"] and then.get("max_pk") == current.get("max_pk") \
            and not content_changed:
        return None
    entry: dict[str, Any] = {"status": "changed", "rows_then": then["rows"],
                             "rows_now": current["rows"], "content_changed": content_changed}
    pk = current.get("pk")
    if pk and then.get("max_pk") is not None:
        database, table = key.split(".", 1)
        entry["rows_added_after_max_pk"] = int(session.value(
            f"SELECT COUNT(*) FROM {quote_ident(database)}.{quote_ident(table)} "
            f"WHERE {quote_ident(pk)} > %s", (then["max_pk"],)) or 0)
    return entry


def read_position(session: Session) -> dict[str, Any]:
    """Binlog file/position and GTID state; absent values are None (binlog off, or the
    login lacks BINLOG MONITOR / REPLICATION CLIENT)."""
    position: dict[str, Any] = {"binlog_file": None, "binlog_pos": None, "gtid": None}
    # MySQL 8.4 renamed SHOW MASTER STATUS; MariaDB and older MySQL know only that name
    for statement in ("SHOW MASTER STATUS", "SHOW BINARY LOG STATUS"):
        try:
            row = session.query_one(statement)
        except SbsError:
            continue
        if row:
            position["binlog_file"], position["binlog_pos"] = text_of(row[0]), int(row[1])
        break
    for variable in ("gtid_binlog_pos", "gtid_executed"):
        try:
            value = session.value(f"SELECT @@GLOBAL.{variable}")
        except SbsError:
            continue
        position["gtid"] = text_of(value) if value is not None else None
        position["gtid_variable"] = variable
        break
    return position


def same_position(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """True only when both positions are known and equal: nothing was written between."""
    if not old or old.get("binlog_file") is None or new.get("binlog_file") is None:
        return False
    return all(old.get(k) == new.get(k) for k in ("binlog_file", "binlog_pos", "gtid"))
