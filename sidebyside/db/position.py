"""Where a database server stands (read_position: binlog file/position and GTID), and
what changed since: the copy records it at its snapshot; rollback uses it to tell
whether the new side took writes after cutover (which switching back would lose).

A position can also tell the cloud's own background writes (heartbeats, service
records: the catalog's `background_writes`) from a user's: for each table so described
it records, per row, a hash of the other columns and a CRC of each background column, so
changes_since can say a table changed only in those columns (and only by rows added or
removed where that is allowed)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from sidebyside.db import schema
from sidebyside.db.checksum import chunk_checksum
from sidebyside.db.client import ReadOnlySession, Session, text_of
from sidebyside.db.endpoint import DbEndpoint
from sidebyside.db.errors import InputError, SbsError
from sidebyside.db.sql import (
    Column,
    TableInfo,
    checksum_expression,
    null_flags,
    qualified,
    quote_ident,
    text_needs_cast,
)
from sidebyside.services.catalog import BackgroundWrites

# A background table with more rows than this is not recorded row by row (the position
# is a journal fact): any change in it then counts as a user's write.
BACKGROUND_ROW_LIMIT = 20_000


def record_position(endpoint: DbEndpoint, databases: list[str] | None = None, *,
                    checksums: bool = True,
                    background: Mapping[str, BackgroundWrites] | None = None) -> dict[str, Any]:
    """Binlog/GTID position and, per table, row count, highest integer PK and (with
    `checksums`) a whole-table CRC32 checksum, all from one consistent snapshot.

    `background`: 'database.table' -> the columns the cloud's own processes write
    there; those tables present get a `background` record (per row: a hash of the
    other columns and a CRC of each background column) for changes_since to tell such writes from a
    user's.

    JSON-able; give it back to `changes_since`. Raises UnreachableError, InputError.
    """
    background = background or {}
    with ReadOnlySession(endpoint, role="database") as session:
        names = schema.resolve_databases(session, databases)
        position = read_position(session)
        session.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        tables = {}
        for database in names:
            for table in schema.read_tables(session, database):
                state = _table_state(session, table, checksums)
                if table.key in background:
                    state["background"] = _background_state(
                        session, table, background[table.key], state["rows"])
                tables[table.key] = state
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


def _background_state(session: Session, table: TableInfo, writes: BackgroundWrites,
                      rows: int) -> dict[str, Any]:
    """Per row (by primary key): [hash of the other columns, CRC of each background
    column]; `rows` None (with `unrecorded`) when the table cannot be told apart."""
    described = set(writes.columns)
    columns = [c for c in table.columns if c.name in described]
    others = tuple(c for c in table.columns if c.name not in described)
    state: dict[str, Any] = {
        "columns": [c.name for c in columns], "other_columns": [c.name for c in others],
        "new_rows": writes.new_rows, "deleted_rows": writes.deleted_rows, "rows": None}
    if not table.primary_key:
        state["unrecorded"] = "no primary key"
    elif not columns:
        state["unrecorded"] = "none of its background columns exists"
    elif rows > BACKGROUND_ROW_LIMIT:
        state["unrecorded"] = f"more than {BACKGROUND_ROW_LIMIT} rows"
    if "unrecorded" in state:
        return state
    cast_text = text_needs_cast(others)
    other_values = ", ".join([*(checksum_expression(c, cast_text=cast_text) for c in others),
                              *null_flags(others)])
    selected = [*(quote_ident(k) for k in table.primary_key),
                # 64 bits of an MD5: a user's change must not hide in a CRC collision
                f"CONV(LEFT(MD5(CONCAT_WS('#', {other_values})), 16), 16, 10)",
                *(_column_crc(c) for c in columns)]
    width = len(table.primary_key)
    state["rows"] = {
        json.dumps([None if v is None else text_of(v) for v in row[:width]]):
            [int(v) for v in row[width:]]
        for row in session.query(f"SELECT {', '.join(selected)} "
                                 f"FROM {qualified(table.database, table.name)}")}
    return state


def _column_crc(column: Column) -> str:
    """One column's CRC, telling NULL from '' (CONCAT_WS skips NULLs)."""
    return (f"CRC32(CONCAT_WS('#', {checksum_expression(column)}, "
            f"ISNULL({quote_ident(column.name)})))")


def _background_of(position: dict[str, Any]) -> dict[str, BackgroundWrites]:
    """The background description a position was recorded with."""
    return {key: BackgroundWrites(table=key.split(".", 1)[1],
                                  columns=tuple(state["background"]["columns"]),
                                  new_rows=bool(state["background"]["new_rows"]),
                                  deleted_rows=bool(state["background"]["deleted_rows"]))
            for key, state in position["tables"].items() if "background" in state}


def changes_since(endpoint: DbEndpoint, position: dict[str, Any]) -> dict[str, Any]:
    """Compare the server now with `position` (from record_position).

    Returns {"changed": bool, "binlog_moved": bool | None, "tables": {table: {...}},
    "user_changes": bool} where each changed table reports rows_then/rows_now,
    rows_added_after_max_pk (rows whose PK is above the recorded maximum: written
    since) and content_changed (checksum). Tables created or dropped since are reported
    as such. `changed` is any change at all; a table recorded with a background
    description also says `background` (True: the change is only the cloud's own
    background writes), `reason` and `background_writes` (rows changed per background
    column, rows added, rows deleted); `user_changes` is whether any changed table is
    not background-only. Raises InputError when the position is not of this kind.
    """
    if "tables" not in position or "databases" not in position:
        raise InputError("position: not a record_position() result (no tables/databases)")
    now = record_position(endpoint, None, checksums=bool(position.get("checksums", True)),
                          background=_background_of(position))
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
    return {"changed": bool(tables),
            "user_changes": any(not e.get("background") for e in tables.values()),
            "binlog_moved": binlog_moved,
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
    if "background" in then and "background" in current:
        entry.update(classify_background(then["background"], current["background"]))
    return entry


def classify_background(then: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """Whether a described table's change is only background writes. Pure.

    Returns {"background": bool, "reason": str} and, when rows were compared,
    "background_writes": {"columns": {column: rows changed}, "rows_added": n,
    "rows_deleted": n, "other_columns_changed": n}."""
    if then.get("rows") is None or now.get("rows") is None:
        why = then.get("unrecorded") or now.get("unrecorded") or "not recorded row by row"
        return {"background": False, "reason": f"cannot tell its background writes apart: {why}"}
    if then["columns"] != now["columns"] or then["other_columns"] != now["other_columns"]:
        return {"background": False, "reason": "its columns changed since"}
    rows_then, rows_now = then["rows"], now["rows"]
    added = [k for k in rows_now if k not in rows_then]
    deleted = [k for k in rows_then if k not in rows_now]
    common = [k for k in rows_then if k in rows_now]
    others_changed = sum(1 for k in common if rows_then[k][0] != rows_now[k][0])
    per_column = {column: n for i, column in enumerate(then["columns"], start=1)
                  if (n := sum(1 for k in common if rows_then[k][i] != rows_now[k][i]))}
    detail = {"columns": per_column, "rows_added": len(added), "rows_deleted": len(deleted),
              "other_columns_changed": others_changed}
    refusals = []
    if others_changed:
        refusals.append(f"other columns than {', '.join(then['columns'])} changed on "
                        f"{_rows(others_changed)}")
    if added and not then["new_rows"]:
        refusals.append(f"{_rows(len(added), 'new')}")
    if deleted and not then["deleted_rows"]:
        refusals.append(f"{_rows(len(deleted), 'deleted')}")
    if refusals:
        return {"background": False, "reason": "; ".join(refusals),
                "background_writes": detail}
    parts = [f"{column} on {_rows(n)}" for column, n in per_column.items()]
    if added:
        parts.append(_rows(len(added), "new"))
    if deleted:
        parts.append(_rows(len(deleted), "deleted"))
    if not parts:  # the table's checksum moved, yet no row did: trust the refusal
        return {"background": False, "reason": "the table changed, but no row by its key",
                "background_writes": detail}
    return {"background": True, "reason": ", ".join(parts), "background_writes": detail}


def _rows(count: int, what: str = "") -> str:
    noun = "row" if count == 1 else "rows"
    return f"{count} {what} {noun}" if what else f"{count} {noun}"


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
