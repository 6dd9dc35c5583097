"""Read-only questions to a MySQL/MariaDB server for the pre-flight (adapter: pymysql).

Connections use a short timeout and never write: the old databases are only read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pymysql

from sidebyside.errors import UnreachableError
from sidebyside.inventory import DatabaseModel, resolve_password
from sidebyside.redact import redact
from sidebyside.upgrade.release_notes import CatalogEntry

CONNECT_TIMEOUT = 5


@dataclass(frozen=True)
class ServerFacts:
    version: str
    datadir: str


@contextmanager
def connection(db: DatabaseModel, where: str, *, timeout: int = CONNECT_TIMEOUT
               ) -> Iterator[Any]:
    """A pymysql connection to the server `db` describes (`where`: its inventory path).

    Raises UnreachableError naming the server, InputError when its password
    reference cannot be read.
    """
    password = resolve_password(db, where)
    try:
        conn = pymysql.connect(host=db.host, port=db.port, user=db.user,
                               password=password or "", unix_socket=db.socket,
                               connect_timeout=timeout, read_timeout=60,
                               charset="utf8mb4", autocommit=True)
    except pymysql.MySQLError as exc:
        raise UnreachableError(f"{where}: cannot connect to {db.user}@{db.host}:{db.port}: "
                               f"{redact(str(exc))}") from None
    try:
        yield conn
    finally:
        conn.close()


def server_facts(conn: Any) -> ServerFacts:
    with conn.cursor() as cur:
        cur.execute("SELECT VERSION(), @@datadir")
        version, datadir = cur.fetchone()
    return ServerFacts(version=str(version), datadir=str(datadir))


def database_sizes(conn: Any, names: Sequence[str]) -> dict[str, int]:
    """Bytes of data and indexes per database (information_schema; absent: 0)."""
    if not names:
        return {}
    marks = ", ".join(["%s"] * len(names))
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_schema, COALESCE(SUM(data_length + index_length), 0) "
            f"FROM information_schema.tables WHERE table_schema IN ({marks}) "
            "GROUP BY table_schema", list(names))
        found = {str(schema): int(size) for schema, size in cur.fetchall()}
    return {name: found.get(name, 0) for name in names}


def existing_databases(conn: Any) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        return {str(row[0]) for row in cur.fetchall()}


def keystone_catalog(conn: Any, database: str = "keystone") -> list[CatalogEntry]:
    """Enabled services and their endpoints, from the keystone database."""
    quoted = "`" + database.replace("`", "``") + "`"
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT s.type, s.extra, e.interface, e.url FROM {quoted}.service s "
            f"LEFT JOIN {quoted}.endpoint e ON e.service_id = s.id "
            "WHERE s.enabled = 1")
        rows = cur.fetchall()
    entries = []
    for service_type, extra, interface, url in rows:
        try:
            name = str(json.loads(extra or "{}").get("name", ""))
        except (ValueError, AttributeError):
            name = ""
        entries.append(CatalogEntry(service_type=str(service_type), service_name=name,
                                    interface=str(interface or ""), url=str(url or "")))
    return entries
