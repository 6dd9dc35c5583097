"""Read-only questions to a server named by an inventory `database:` section: what it
runs, where its data lives, which databases it holds and how big they are (asked by the
pre-flight, which should answer fast).

Every connection is a ReadOnlySession (the server refuses any write through it,
whichever side it is), bounded by the inventory's timeouts and using its TLS settings;
the connect timeout is at most PROBE_CONNECT_TIMEOUT.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from sidebyside.db.client import ReadOnlySession, text_of
from sidebyside.db.endpoint import endpoint_from_inventory
from sidebyside.db.errors import UnreachableError

PROBE_CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class ServerFacts:
    version: str
    datadir: str


@contextmanager
def probe_session(database: Any, where: str, *, timeout: float = PROBE_CONNECT_TIMEOUT
                  ) -> Iterator[ReadOnlySession]:
    """A read-only session to the server an inventory `database:` section describes
    (`where`: its inventory path, e.g. old.database), closed on leaving.

    Raises UnreachableError naming the server, InputError when its password
    reference or TLS files cannot be read.
    """
    endpoint = endpoint_from_inventory(database, where)
    endpoint = replace(endpoint, connect_timeout=min(endpoint.connect_timeout, timeout))
    try:
        session = ReadOnlySession(endpoint, role=where)
    except UnreachableError as exc:
        raise UnreachableError(f"{where}: cannot connect to {endpoint.user}@"
                               f"{endpoint.address}: {exc.message}") from None
    try:
        yield session
    finally:
        session.close()


def server_facts(session: ReadOnlySession) -> ServerFacts:
    row = session.query_one("SELECT VERSION(), @@datadir")
    version, datadir = row if row else ("", "")
    return ServerFacts(version=text_of(version), datadir=text_of(datadir))


def database_sizes(session: ReadOnlySession, names: Sequence[str]) -> dict[str, int]:
    """Bytes of data and indexes per database (information_schema; absent: 0)."""
    if not names:
        return {}
    marks = ", ".join(["%s"] * len(names))
    rows = session.query(
        "SELECT table_schema, COALESCE(SUM(data_length + index_length), 0) "
        f"FROM information_schema.tables WHERE table_schema IN ({marks}) "
        "GROUP BY table_schema", list(names))
    found = {text_of(schema): int(size) for schema, size in rows}
    return {name: found.get(name, 0) for name in names}


def existing_databases(session: ReadOnlySession) -> set[str]:
    return {text_of(row[0]) for row in session.query("SHOW DATABASES")}
