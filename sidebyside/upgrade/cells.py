"""nova cell mappings: point every cell at the new database and broker BEFORE any
nova db sync.

nova_api's `cell_mappings` rows store each cell's database and transport URLs
literally. The copy on the new server still names the OLD servers, and
`nova-manage db sync` migrates cell0 through its mapping while
`online_data_migrations` visits every cell: without this step the new release
upgrades the old cell databases and the rollback is gone.

The rows are read and updated on the NEW database server itself (the inventory's
`new.database`, proven the new side by identity before any step), in one transaction:
what `nova-manage cell_v2 update_cell` does to them (nova/cmd/manage.py: the two URL
columns of the row, by uuid), without four nova-manage processes, each importing nova
for seconds, inside the cutover's window; and the URLs, which carry the nova database
and RabbitMQ passwords, never go on any command line or into any file.

Pure: `plan_cell_updates`, `cells_on_endpoint`, `new_side_urls`, `verify_cells`.
Effects (through a database session of the new side): `read_cells`,
`update_cell_mappings`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from sidebyside.config.ini import Document
from sidebyside.db.client import Session
from sidebyside.db.sql import quote_ident
from sidebyside.errors import InputError, VerificationError
from sidebyside.redact import redact, register_secret
from sidebyside.upgrade.commands import LogSink

CELL0_UUID = "00000000-0000-0000-0000-000000000000"
MYSQL_DEFAULT_PORT = 3306
DEFAULT_API_DATABASE = "nova_api"


@dataclass(frozen=True)
class CellMapping:
    name: str
    uuid: str
    transport_url: str
    database_url: str
    disabled: bool = False

    @property
    def is_cell0(self) -> bool:
        return self.uuid == CELL0_UUID

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "uuid": self.uuid,
                "transport_url": redact(self.transport_url),
                "database_url": redact(self.database_url), "disabled": self.disabled}


@dataclass(frozen=True)
class CellUpdate:
    """The URLs one cell must end up with (both, always); `changed` names what
    differs now."""

    uuid: str
    name: str
    database_url: str
    transport_url: str
    changed: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"uuid": self.uuid, "name": self.name,
                "database_url": redact(self.database_url),
                "transport_url": redact(self.transport_url), "changed": list(self.changed)}


def _password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def _endpoint(url: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    return host, port or MYSQL_DEFAULT_PORT


def retarget_database_url(cell_url: str, new_url: str) -> str:
    """The cell's database (its path) on the server, credentials and options of
    `new_url`. Pure. Raises ValueError for a URL without a database name."""
    cell = urlsplit(cell_url)
    target = urlsplit(new_url)
    if not cell.path.strip("/"):
        raise ValueError(f"cell database URL {redact(cell_url)!r} names no database")
    if not target.netloc:
        raise ValueError(f"new database URL {redact(new_url)!r} names no server")
    return urlunsplit(SplitResult(target.scheme, target.netloc, cell.path, target.query,
                                  target.fragment))


def plan_cell_updates(cells: Iterable[CellMapping], *, database_url: str,
                      transport_url: str | None) -> list[CellUpdate]:
    """What to change so that every cell uses the new servers. Pure.

    Each cell keeps its database name (nova_cell0, nova, ...) on the server of
    `database_url` (the new nova.conf's [database] connection). cell0 has no broker
    (`none:///`) and keeps it; the others take `transport_url` when given.
    Returns the cells that need a change (with both final URLs): empty means in place.
    Raises ValueError for a cell URL that cannot be re-targeted.
    """
    updates = []
    for cell in cells:
        new_db = retarget_database_url(cell.database_url, database_url)
        keeps_transport = cell.is_cell0 or cell.transport_url.startswith("none:")
        new_transport = cell.transport_url
        if transport_url and not keeps_transport:
            new_transport = transport_url
        changed = tuple(name for name, before, after in (
            ("database", cell.database_url, new_db),
            ("transport", cell.transport_url, new_transport)) if before != after)
        if changed:
            updates.append(CellUpdate(uuid=cell.uuid, name=cell.name, database_url=new_db,
                                      transport_url=new_transport, changed=changed))
    return updates


def cells_on_endpoint(cells: Iterable[CellMapping],
                      endpoints: Iterable[tuple[str, int]]) -> list[CellMapping]:
    """Cells whose database URL names one of `endpoints` (host, port). Pure."""
    wanted = {(host, port) for host, port in endpoints}
    return [cell for cell in cells if _endpoint(cell.database_url) in wanted]


def new_side_urls(config_text: str, source: str) -> tuple[str, str | None, str]:
    """[database] connection and [DEFAULT] transport_url of the new nova.conf, read as
    nova's oslo.config reads them (sidebyside.config.ini), and the name of the API
    database ([api_database] connection's, else nova_api), where the mappings live.
    Pure.

    Raises InputError naming the file when the database connection is missing or the
    file has a line oslo.config would refuse (the line itself is not shown).
    """
    document = Document.parse(config_text, path=source)
    if document.problems:
        # only the kind of problem: the offending line may hold a password
        kinds = ", ".join(dict.fromkeys(problem for _, problem, _ in document.problems))
        raise InputError(f"{source}: cannot be parsed: {kinds}")
    database = document.get_one("database", "connection") or ""
    if not database:
        raise InputError(f"{source}: [database] connection is not set: the cell "
                         "mappings cannot be pointed at the new database")
    transport = document.get_one("DEFAULT", "transport_url") or None
    register_secret(_password(database))
    if transport:
        register_secret(_password(transport))
    api = document.get_one("api_database", "connection") or ""
    register_secret(_password(api))
    try:
        api_database = urlsplit(api).path.strip("/") if api else ""
    except ValueError:
        api_database = ""
    return database, transport, api_database or DEFAULT_API_DATABASE


def read_cells(session: Session, api_database: str) -> list[CellMapping]:
    """Every row of `api_database`.cell_mappings (nova/db/api/models.py CellMapping),
    its passwords registered for redaction. Raises DbError subclasses."""
    rows = session.query(
        "SELECT uuid, name, transport_url, database_connection, disabled FROM "
        f"{quote_ident(api_database)}.cell_mappings ORDER BY id")
    cells = [CellMapping(name=str(name or ""), uuid=str(uuid),
                         transport_url=str(transport or ""), database_url=str(database or ""),
                         disabled=bool(disabled))
             for uuid, name, transport, database, disabled in rows]
    for cell in cells:
        for url in (cell.transport_url, cell.database_url):
            register_secret(_password(url))
    return cells


@dataclass(frozen=True)
class CellMappingResult:
    before: tuple[CellMapping, ...]
    after: tuple[CellMapping, ...]
    updates: tuple[CellUpdate, ...]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"before": [c.to_dict() for c in self.before],
                "after": [c.to_dict() for c in self.after],
                "updates": [u.to_dict() for u in self.updates],
                "seconds": round(self.seconds, 3)}


def update_cell_mappings(session: Session, api_database: str, *, database_url: str,
                         transport_url: str | None, old_databases: Iterable[tuple[str, int]],
                         log: LogSink) -> CellMappingResult:
    """Point every cell at `database_url`'s server and `transport_url`, in one
    transaction on the new side's `session`, then prove it from the rows read back.

    `old_databases` are the old side's (host, port): afterwards no cell may name one.
    Raises VerificationError when nova_api has no cell, a cell still names an old
    database or differs from what was set; InputError when a cell URL cannot be
    re-targeted; DbError subclasses from the server.
    """
    started = time.monotonic()
    before = read_cells(session, api_database)
    if not before:
        raise VerificationError(f"{api_database}.cell_mappings is empty: was the "
                                f"{api_database} database copied?")
    try:
        updates = plan_cell_updates(before, database_url=database_url,
                                    transport_url=transport_url)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if updates:
        session.execute("START TRANSACTION")
        try:
            for update in updates:
                session.execute(
                    f"UPDATE {quote_ident(api_database)}.cell_mappings SET "
                    "database_connection = %s, transport_url = %s, "
                    "updated_at = UTC_TIMESTAMP() WHERE uuid = %s",
                    (update.database_url, update.transport_url, update.uuid))
                log(f"cell {update.name or update.uuid}: {', '.join(update.changed)} -> "
                    f"{redact(update.database_url)}"
                    + (f", {redact(update.transport_url)}" if "transport" in update.changed
                       else ""))
            session.execute("COMMIT")
        except BaseException:
            session.execute("ROLLBACK")
            raise
    after = read_cells(session, api_database)
    verify_cells(after, database_url=database_url, transport_url=transport_url,
                 old_databases=old_databases)
    log(f"cell mappings: {len(updates)} cell(s) updated, {len(after)} on the new servers")
    return CellMappingResult(before=tuple(before), after=tuple(after),
                             updates=tuple(updates), seconds=time.monotonic() - started)


def verify_cells(cells: list[CellMapping], *, database_url: str, transport_url: str | None,
                 old_databases: Iterable[tuple[str, int]]) -> None:
    """Raises VerificationError when a cell names an old database or still needs an
    update. Pure."""
    stale = cells_on_endpoint(cells, old_databases)
    if stale:
        names = ", ".join(c.name or c.uuid for c in stale)
        raise VerificationError(f"cell(s) {names} still point at an old database server: "
                                "a nova db sync now would upgrade the old databases")
    pending = plan_cell_updates(cells, database_url=database_url, transport_url=transport_url)
    if pending:
        names = ", ".join(u.name or u.uuid for u in pending)
        raise VerificationError(f"cell(s) {names} do not show the URLs just set")
