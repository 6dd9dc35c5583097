"""Read-only questions to a MySQL/MariaDB server for the pre-flight.

Every connection is a sidebyside.db ReadOnlySession (the server refuses any write
through it, whichever side it is), bounded by the inventory's timeouts and using its
TLS settings; the connect timeout is at most CONNECT_TIMEOUT here, the pre-flight
should answer fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sidebyside.db.client import ReadOnlySession
from sidebyside.db.endpoint import DbEndpoint, inventory_session_options
from sidebyside.errors import UnreachableError
from sidebyside.inventory import DatabaseModel, resolve_password
from sidebyside.upgrade.release_notes import CatalogEntry

CONNECT_TIMEOUT = 5


@dataclass(frozen=True)
class ServerFacts:
    version: str
    datadir: str


@contextmanager
def connection(db: DatabaseModel, where: str, *, timeout: float = CONNECT_TIMEOUT
               ) -> Iterator[ReadOnlySession]:
    """A read-only session to the server `db` describes (`where`: its inventory path).

    Raises UnreachableError naming the server, InputError when its password
    reference or TLS files cannot be read.
    """
    password = resolve_password(db, where)
    options = inventory_session_options(db)
    options["connect_timeout"] = min(float(options["connect_timeout"]), timeout)
    endpoint = DbEndpoint(host=db.host, port=db.port, user=db.user, password=password or "",
                          **options)
    try:
        session = ReadOnlySession(endpoint, role=where)
    except UnreachableError as exc:
        raise UnreachableError(f"{where}: cannot connect to {db.user}@{db.host}:{db.port}: "
                               f"{exc.message}") from None
    try:
        yield session
    finally:
        session.close()


def server_facts(conn: ReadOnlySession) -> ServerFacts:
    row = conn.query_one("SELECT VERSION(), @@datadir")
    version, datadir = row if row else ("", "")
    return ServerFacts(version=_text(version), datadir=_text(datadir))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def database_sizes(conn: ReadOnlySession, names: Sequence[str]) -> dict[str, int]:
    """Bytes of data and indexes per database (information_schema; absent: 0)."""
    if not names:
        return {}
    marks = ", ".join(["%s"] * len(names))
    rows = conn.query(
        "SELECT table_schema, COALESCE(SUM(data_length + index_length), 0) "
        f"FROM information_schema.tables WHERE table_schema IN ({marks}) "
        "GROUP BY table_schema", list(names))
    found = {_text(schema): int(size) for schema, size in rows}
    return {name: found.get(name, 0) for name in names}


def existing_databases(conn: ReadOnlySession) -> set[str]:
    return {_text(row[0]) for row in conn.query("SHOW DATABASES")}


def keystone_catalog(conn: ReadOnlySession, database: str = "keystone"
                     ) -> list[CatalogEntry]:
    """Enabled services and their endpoints, from the keystone database."""
    quoted = "`" + database.replace("`", "``") + "`"
    rows = conn.query(
        f"SELECT s.type, s.extra, e.interface, e.url FROM {quoted}.service s "
        f"LEFT JOIN {quoted}.endpoint e ON e.service_id = s.id "
        "WHERE s.enabled = 1")
    entries = []
    for service_type, extra, interface, url in rows:
        try:
            name = str(json.loads(extra or "{}").get("name", ""))
        except (ValueError, AttributeError):
            name = ""
        entries.append(CatalogEntry(service_type=str(service_type), service_name=name,
                                    interface=str(interface or ""), url=str(url or "")))
    return entries
