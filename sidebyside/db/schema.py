"""Read a source server's schema objects and re-create them on the target.

Tables are created without their secondary indexes and foreign keys (added after the
data, see sql.split_create_table); views, triggers, routines and events follow the data
(triggers must not fire during the load). Each object is re-created with the sql_mode,
character set and time zone it was defined under, as SHOW CREATE reports them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sidebyside.db.client import Session, TargetSession, require_target
from sidebyside.db.errors import DbStepFailed, InputError, SbsError
from sidebyside.db.sql import (
    Column,
    TableInfo,
    normalized_create,
    quote_ident,
    range_column_of,
)
from sidebyside.redact import register_secret

log = logging.getLogger(__name__)

SYSTEM_DATABASES = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
SYSTEM_USERS = frozenset({"root", "mariadb.sys", "mysql.sys", "mysql.session",
                          "mysql.infoschema", "debian-sys-maint"})


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else str(value)


def list_databases(session: Session) -> list[str]:
    rows = session.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY 1")
    return [_text(r[0]) for r in rows if _text(r[0]) not in SYSTEM_DATABASES]


def resolve_databases(session: Session, wanted: list[str] | None) -> list[str]:
    """The databases to copy: all non-system ones, or `wanted` (each must exist)."""
    present = list_databases(session)
    if not wanted:
        return present
    missing = [d for d in wanted if d not in present]
    if missing:
        raise InputError(f"{session.where}: database(s) {', '.join(missing)} do not exist "
                         f"(present: {', '.join(present) or 'none'})")
    return list(dict.fromkeys(wanted))


def read_tables(session: Session, database: str) -> list[TableInfo]:
    """Base tables with columns, primary key and size estimates."""
    sizes = {_text(r[0]): (int(r[1] or 0), int(r[2] or 0)) for r in session.query(
        "SELECT TABLE_NAME, TABLE_ROWS, DATA_LENGTH FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = %s AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')",
        (database,))}
    columns: dict[str, list[Column]] = {}
    for table, name, data_type, extra, nullable, collation in session.query(
            "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, EXTRA, IS_NULLABLE, COLLATION_NAME "
            "FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME, ORDINAL_POSITION", (database,)):
        extra_text = _text(extra).upper()
        generated = "GENERATED" in extra_text or extra_text in ("VIRTUAL", "PERSISTENT",
                                                                "STORED")
        columns.setdefault(_text(table), []).append(
            Column(_text(name), _text(data_type).lower(), generated,
                   nullable=_text(nullable).upper() != "NO",
                   collation=_text(collation) if collation is not None else None))
    keys: dict[str, list[str]] = {}
    for table, name in session.query(
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
            "WHERE TABLE_SCHEMA = %s AND INDEX_NAME = 'PRIMARY' "
            "ORDER BY TABLE_NAME, SEQ_IN_INDEX", (database,)):
        keys.setdefault(_text(table), []).append(_text(name))
    tables = []
    for name in sorted(sizes):
        cols = tuple(columns.get(name, ()))
        primary = tuple(keys.get(name, ()))
        rows, data = sizes[name]
        tables.append(TableInfo(database, name, cols, primary, rows, data,
                                range_column_of(cols, primary)))
    return tables


def show_create_table(session: Session, database: str, table: str) -> str:
    row = session.query_one(f"SHOW CREATE TABLE {quote_ident(database)}.{quote_ident(table)}")
    if row is None:
        raise DbStepFailed(f"{session.where}: SHOW CREATE TABLE {database}.{table} gave nothing")
    return _text(row[1])


def database_is_empty(session: Session, database: str) -> bool:
    """True when `database` does not exist or holds no table, view or routine."""
    objects = session.value(
        "SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s) + "
        "(SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s)",
        (database, database))
    return int(objects or 0) == 0


def create_database(source: Session, target: TargetSession, database: str) -> None:
    require_target(target, "schema.create_database")
    row = source.query_one(f"SHOW CREATE DATABASE {quote_ident(database)}")
    statement = _text(row[1]) if row else f"CREATE DATABASE {quote_ident(database)}"
    statement = statement.replace("CREATE DATABASE", "CREATE DATABASE IF NOT EXISTS", 1)
    target.execute(statement)
    charset = source.query_one(
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
        "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (database,))
    if charset:  # an existing (empty) target database gets the source's defaults
        target.execute(f"ALTER DATABASE {quote_ident(database)} CHARACTER SET "
                       f"{_text(charset[0])} COLLATE {_text(charset[1])}")


def create_table(target: TargetSession, database: str, table: str, create: str) -> None:
    require_target(target, "schema.create_table")
    target.execute(f"USE {quote_ident(database)}")
    target.execute(f"DROP TABLE IF EXISTS {quote_ident(table)}")
    target.execute(create)


def existing_deferred(target: Session, database: str, table: str) -> set[str]:
    """What is already on a target table: "index:<name>" and "fk:<name>" (an index and
    a foreign key often share a name, so the kind is part of the key)."""
    names = {f"index:{_text(r[0])}" for r in target.query(
        "SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", (database, table))}
    names |= {f"fk:{_text(r[0])}" for r in target.query(
        "SELECT CONSTRAINT_NAME FROM information_schema.TABLE_CONSTRAINTS "
        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND CONSTRAINT_TYPE = 'FOREIGN KEY'",
        (database, table))}
    return names


def deferred_key(clause: str) -> str:
    from sidebyside.db.sql import deferred_name

    kind = "fk" if "FOREIGN KEY" in clause else "index"
    return f"{kind}:{deferred_name(clause)}"


def add_deferred(target: TargetSession, database: str, table: str, clauses: list[str], *,
                 indexes_only: bool = False, foreign_only: bool = False) -> None:
    """One ALTER TABLE adding the indexes, then one adding the foreign keys.

    A foreign key needs an index on the columns it references, which may be a
    deferred index of another table: the copy adds every table's indexes first
    (`indexes_only`) and the foreign keys once all tables have theirs (`foreign_only`).
    """
    require_target(target, "schema.add_deferred")
    present = existing_deferred(target, database, table)
    missing = [c for c in clauses if deferred_key(c) not in present]
    indexes = [] if foreign_only else [c for c in missing if "FOREIGN KEY" not in c]
    foreign = [] if indexes_only else [c for c in missing if "FOREIGN KEY" in c]
    name = f"{quote_ident(database)}.{quote_ident(table)}"
    if indexes:
        target.execute(f"ALTER TABLE {name} " + ", ".join(indexes))
    if foreign:  # foreign_key_checks=0: no validation scan, the source was consistent
        target.execute(f"ALTER TABLE {name} " + ", ".join(foreign))


# ------------------------------------------------------- views and code objects
@dataclass
class SchemaObjects:
    """Views, triggers, routines and events of one database, as SHOW CREATE gives them."""

    database: str
    views: list[tuple[str, str, str, str]] = field(default_factory=list)  # name, sql, cs, coll
    triggers: list[dict[str, str]] = field(default_factory=list)
    routines: list[dict[str, str]] = field(default_factory=list)
    events: list[dict[str, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"views": len(self.views), "triggers": len(self.triggers),
                "routines": len(self.routines), "events": len(self.events)}


def read_objects(source: Session, database: str) -> SchemaObjects:
    objects = SchemaObjects(database)
    db = quote_ident(database)
    for (name,) in source.query("SELECT TABLE_NAME FROM information_schema.VIEWS "
                                "WHERE TABLE_SCHEMA = %s ORDER BY 1", (database,)):
        row = source.query_one(f"SHOW CREATE VIEW {db}.{quote_ident(_text(name))}")
        if row:
            objects.views.append((_text(row[0]), _text(row[1]), _text(row[2]), _text(row[3])))
    for (name,) in source.query("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
                                "WHERE TRIGGER_SCHEMA = %s ORDER BY ACTION_ORDER, 1",
                                (database,)):
        row = source.query_one(f"SHOW CREATE TRIGGER {db}.{quote_ident(_text(name))}")
        if row:
            objects.triggers.append({"name": _text(row[0]), "sql_mode": _text(row[1]),
                                     "sql": _text(row[2]), "charset": _text(row[3]),
                                     "collation": _text(row[4])})
    for name, kind in source.query("SELECT ROUTINE_NAME, ROUTINE_TYPE FROM "
                                   "information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s "
                                   "ORDER BY 2, 1", (database,)):
        row = source.query_one(f"SHOW CREATE {_text(kind)} {db}.{quote_ident(_text(name))}")
        if row is None or row[2] is None:
            raise DbStepFailed(f"{source.where}: cannot read {_text(kind).lower()} "
                               f"{database}.{_text(name)} (needs SELECT on mysql.proc or "
                               f"being its definer)")
        objects.routines.append({"name": _text(row[0]), "kind": _text(kind),
                                 "sql_mode": _text(row[1]), "sql": _text(row[2]),
                                 "charset": _text(row[3]), "collation": _text(row[4])})
    for (name,) in source.query("SELECT EVENT_NAME FROM information_schema.EVENTS "
                                "WHERE EVENT_SCHEMA = %s ORDER BY 1", (database,)):
        row = source.query_one(f"SHOW CREATE EVENT {db}.{quote_ident(_text(name))}")
        if row:
            objects.events.append({"name": _text(row[0]), "sql_mode": _text(row[1]),
                                   "time_zone": _text(row[2]), "sql": _text(row[3]),
                                   "charset": _text(row[4]), "collation": _text(row[5])})
    return objects


def _in_context(target: TargetSession, database: str, sql: str, *, sql_mode: str,
                charset: str, collation: str, time_zone: str | None = None) -> None:
    target.execute(f"USE {quote_ident(database)}")
    target.execute("SET SESSION sql_mode = %s", (sql_mode,))
    target.execute(f"SET NAMES {charset} COLLATE {collation}")
    if time_zone:
        target.execute("SET SESSION time_zone = %s", (time_zone,))
    try:
        target.execute(sql)
    finally:
        target.execute("SET NAMES utf8mb4")
        target.execute("SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'")
        target.execute("SET SESSION time_zone = '+00:00'")


def _drop_quietly(target: TargetSession, sql: str) -> None:
    try:
        target.execute(sql)
    except SbsError:
        pass


def create_objects(target: TargetSession, objects: SchemaObjects) -> None:
    """Views (in dependency order, by retrying), then routines, triggers, events.

    Each is dropped first, so a resumed copy re-creates it identically.
    """
    require_target(target, "schema.create_objects")
    db = quote_ident(objects.database)
    pending = list(objects.views)
    while pending:
        failed: list[tuple[str, str, str, str]] = []
        last_error: SbsError | None = None
        for name, sql, charset, collation in pending:
            _drop_quietly(target, f"DROP VIEW IF EXISTS {db}.{quote_ident(name)}")
            try:
                _in_context(target, objects.database, sql, sql_mode="", charset=charset,
                            collation=collation)
            except SbsError as exc:  # a view over a view not created yet
                failed.append((name, sql, charset, collation))
                last_error = exc
        if len(failed) == len(pending):
            raise DbStepFailed(f"cannot create views {', '.join(v[0] for v in failed)} in "
                               f"{objects.database}: {last_error}")
        pending = failed
    for routine in objects.routines:
        _drop_quietly(target, f"DROP {routine['kind']} IF EXISTS "
                              f"{db}.{quote_ident(routine['name'])}")
        _in_context(target, objects.database, routine["sql"], sql_mode=routine["sql_mode"],
                    charset=routine["charset"], collation=routine["collation"])
    for trigger in objects.triggers:
        _drop_quietly(target, f"DROP TRIGGER IF EXISTS {db}.{quote_ident(trigger['name'])}")
        _in_context(target, objects.database, trigger["sql"], sql_mode=trigger["sql_mode"],
                    charset=trigger["charset"], collation=trigger["collation"])
    for event in objects.events:
        _drop_quietly(target, f"DROP EVENT IF EXISTS {db}.{quote_ident(event['name'])}")
        _in_context(target, objects.database, event["sql"], sql_mode=event["sql_mode"],
                    charset=event["charset"], collation=event["collation"],
                    time_zone=event["time_zone"])


def object_signature(session: Session, database: str) -> dict[str, list[str]]:
    """Names of every schema object, for comparing source and target."""
    def names(sql: str) -> list[str]:
        return sorted(_text(r[0]) for r in session.query(sql, (database,)))

    return {
        "tables": names("SELECT TABLE_NAME FROM information_schema.TABLES WHERE "
                        "TABLE_SCHEMA = %s AND TABLE_TYPE <> 'VIEW'"),
        "views": names("SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s"),
        "triggers": names("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
                          "WHERE TRIGGER_SCHEMA = %s"),
        "routines": names("SELECT CONCAT(ROUTINE_TYPE, ' ', ROUTINE_NAME) FROM "
                          "information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s"),
        "events": names("SELECT EVENT_NAME FROM information_schema.EVENTS "
                        "WHERE EVENT_SCHEMA = %s"),
    }


def compare_schema(source: Session, target: Session, database: str) -> list[str]:
    """Differences in object names and table definitions (AUTO_INCREMENT counters aside)."""
    problems: list[str] = []
    source_objects = object_signature(source, database)
    target_objects = object_signature(target, database)
    for kind, names in source_objects.items():
        missing = sorted(set(names) - set(target_objects[kind]))
        extra = sorted(set(target_objects[kind]) - set(names))
        if missing:
            problems.append(f"{database}: {kind} missing on target: {', '.join(missing)}")
        if extra:
            problems.append(f"{database}: {kind} only on target: {', '.join(extra)}")
    for table in source_objects["tables"]:
        if table not in target_objects["tables"]:
            continue
        if normalized_create(show_create_table(source, database, table)) != \
                normalized_create(show_create_table(target, database, table)):
            problems.append(f"{database}.{table}: table definition differs")
    return problems


# ------------------------------------------------------------ users and grants
@dataclass
class Account:
    user: str
    host: str
    create: str
    grants: list[str]

    @property
    def name(self) -> str:
        return f"{self.user}@{self.host}"


def service_accounts(source: Session, databases: list[str]) -> list[Account]:
    """The accounts holding privileges on `databases` (root and system users aside)."""
    if not databases:
        return []
    marks = ", ".join(["%s"] * len(databases))
    pairs: set[tuple[str, str]] = set()
    for table in ("db", "tables_priv", "procs_priv", "columns_priv"):
        rows = source.query(f"SELECT DISTINCT User, Host FROM mysql.{table} "
                            f"WHERE REPLACE(Db, '\\\\_', '_') IN ({marks})", tuple(databases))
        pairs |= {(_text(u), _text(h)) for u, h in rows}
    accounts = []
    for user, host in sorted(pairs):
        if user in SYSTEM_USERS or not user:
            continue
        account = f"{_quote_account(user)}@{_quote_account(host)}"
        row = source.query_one(f"SHOW CREATE USER {account}")
        create = _text(row[0]) if row else f"CREATE USER {account}"
        grants = [_text(r[0]) for r in source.query(f"SHOW GRANTS FOR {account}")]
        for statement in (create, *grants):
            _register_hashes(statement)
        accounts.append(Account(user, host, create, grants))
    return accounts


def _quote_account(part: str) -> str:
    return "'" + part.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _register_hashes(statement: str) -> None:
    import re

    for match in re.finditer(r"(?:PASSWORD|AS) '([^']+)'", statement):
        register_secret(match.group(1))


def apply_accounts(target: TargetSession, accounts: list[Account]) -> None:
    """Create each account when missing, give it the source's authentication, and its
    grants (GRANT only adds, so privileges the deploy gave on the target remain)."""
    require_target(target, "schema.apply_accounts")
    for account in accounts:
        create = account.create
        if create.startswith("CREATE USER ") and "IF NOT EXISTS" not in create[:30]:
            create = "CREATE USER IF NOT EXISTS " + create[len("CREATE USER "):]
        target.execute(create)
        alter = "ALTER USER " + account.create[len("CREATE USER "):]
        if account.create.startswith("CREATE USER ") and " IDENTIFIED " in alter:
            target.execute(alter)
        for grant in account.grants:
            target.execute(grant)
    if accounts:
        target.execute("FLUSH PRIVILEGES")


def target_accounts_signature(session: Session, accounts: list[Account]) -> dict[str, list[str]]:
    return {a.name: sorted(_text(r[0]) for r in session.query(
        f"SHOW GRANTS FOR {_quote_account(a.user)}@{_quote_account(a.host)}"))
        for a in accounts}


def log_objects(objects: SchemaObjects) -> None:
    log.info("%s: %s", objects.database, objects.counts())
