"""nova cell mappings: point every cell at the new database and broker BEFORE any
nova db sync.

nova_api's `cell_mappings` rows store each cell's database and transport URLs
literally. The copy on the new server still names the OLD servers, and
`nova-manage db sync` migrates cell0 through its mapping while
`online_data_migrations` visits every cell: without this step the new release
upgrades the old cell databases and the rollback is gone.

Pure: `parse_cell_list`, `plan_cell_updates`, `cells_on_endpoint`,
`cell_config_text`, `update_cell_argv`. Effects (through a Host): `list_cells`,
`update_cell_mappings`.

The URLs carry the nova database and RabbitMQ passwords, so they never go on
nova-manage's command line (where `ps` shows them to every user): each update writes
them into a 0600 oslo.config file in a private (0700) directory on the host and
passes it as a second `--config-file`. nova-manage's `update_cell` fills an omitted
`--database_connection` / `--transport-url` from CONF ([database] connection,
[DEFAULT] transport_url), and oslo.config lets the later file win.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from sidebyside.config.ini import Document
from sidebyside.errors import InputError, VerificationError
from sidebyside.redact import redact, register_secret
from sidebyside.remote.base import Host, private_temp_dir
from sidebyside.services.catalog import ServiceInfo
from sidebyside.upgrade.commands import CommandFailed, LogSink, display, execute, render

CELL0_UUID = "00000000-0000-0000-0000-000000000000"
LIST_TIMEOUT = 300.0
UPDATE_TIMEOUT = 300.0
MYSQL_DEFAULT_PORT = 3306
CELL_CONFIG_NAME = "cell.conf"


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
    """The URLs one cell must end up with; `changed` names what differs now.

    Both URLs are always given to `update_cell` (in its private config file, see
    `cell_config_text`): from nova.conf alone nova-manage would fill an omitted one
    with [DEFAULT] transport_url / [database] connection, which would give cell0 the
    broker of cell1 (and then refuse cell1 as a duplicate).
    """

    uuid: str
    name: str
    database_url: str
    transport_url: str
    changed: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"uuid": self.uuid, "name": self.name,
                "database_url": redact(self.database_url),
                "transport_url": redact(self.transport_url), "changed": list(self.changed)}


def _column_spans(border: str) -> list[tuple[int, int]]:
    corners = [i for i, ch in enumerate(border) if ch == "+"]
    return [(a + 1, b) for a, b in zip(corners, corners[1:], strict=False)]


def parse_cell_list(text: str) -> list[CellMapping]:
    """Cells from `nova-manage cell_v2 list_cells --verbose` (a PrettyTable).

    Columns are cut at the border's `+` positions, so a `|` inside a password does
    not shift them. Raises ValueError when the table is not recognised.
    """
    lines = [line.rstrip("\n") for line in text.splitlines()]
    borders = [i for i, line in enumerate(lines) if line.startswith("+") and
               set(line.strip()) <= {"+", "-"}]
    if len(borders) < 2:
        raise ValueError("no cell table in the list_cells output")
    spans = _column_spans(lines[borders[0]].rstrip())
    header_index = borders[0] + 1
    header = [lines[header_index][a:b].strip().lower() for a, b in spans]
    wanted = {"name": "name", "uuid": "uuid", "transport url": "transport_url",
              "database connection": "database_url", "disabled": "disabled"}
    missing = [col for col in wanted if col not in header]
    if missing:
        raise ValueError(f"list_cells table lacks column(s) {', '.join(missing)}")
    where = {wanted[col]: header.index(col) for col in wanted}
    cells = []
    for line in lines[header_index + 1:]:
        if not line.startswith("|"):
            continue
        values = [line[a:b].strip() for a, b in spans]
        if len(values) < len(spans):
            raise ValueError(f"list_cells row is shorter than its header: {redact(line)!r}")
        cell = CellMapping(name=values[where["name"]], uuid=values[where["uuid"]],
                           transport_url=values[where["transport_url"]],
                           database_url=values[where["database_url"]],
                           disabled=values[where["disabled"]].lower() == "true")
        for url in (cell.transport_url, cell.database_url):
            register_secret(_password(url))
        cells.append(cell)
    return cells


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


def new_side_urls(config_text: str, source: str) -> tuple[str, str | None]:
    """[database] connection and [DEFAULT] transport_url of the new nova.conf, read as
    nova's oslo.config reads them (sidebyside.config.ini). Pure.

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
    return database, transport


def _oslo_value(url: str, what: str) -> str:
    """`url` written so that oslo.config reads back exactly `url`. Pure.

    oslo.config strips one pair of surrounding quotes (so the value is always quoted:
    a URL that starts or ends with a quote or a space survives) and substitutes
    `$name` (so `$` is doubled). Raises ValueError for what cannot round-trip: a line
    break, or a backslash before a `$` (oslo.config turns every `\\$` into `$$`).
    """
    if "\n" in url or "\r" in url:
        raise ValueError(f"the {what} URL contains a line break")
    if "\\$" in url:
        raise ValueError(f"the {what} URL contains a backslash before '$', which "
                         "oslo.config cannot read back unchanged")
    return '"' + url.replace("$", "$$") + '"'


def _without_broker(transport_url: str) -> bool:
    return transport_url.startswith("none:")


def cell_config_text(update: CellUpdate) -> str:
    """The private oslo.config file that gives nova-manage this cell's URLs. Pure.

    A `none:` transport (cell0: no broker, no credentials) is not written: nova-manage
    starts oslo.messaging with [DEFAULT] transport_url and there is no `none` driver,
    so it goes on the command line instead (see `update_cell_argv`).
    Raises ValueError for a URL oslo.config cannot read back unchanged.
    """
    text = f"[database]\nconnection = {_oslo_value(update.database_url, 'database')}\n"
    if not _without_broker(update.transport_url):
        text += ("[DEFAULT]\ntransport_url = "
                 f"{_oslo_value(update.transport_url, 'transport')}\n")
    return text


def update_cell_argv(template_argv: list[str], config_path: str, update: CellUpdate, *,
                     transport_option: str = "--transport-url") -> list[str]:
    """nova-manage's update_cell argv with the private config file and no secret. Pure.

    The private file goes right after the template's last `--config-file` (oslo.config
    reads the files in order, the later one wins; a global option placed after the
    `cell_v2` subcommand would be refused). Raises InputError for a template without
    `--config-file` (nova-manage would then no longer read its default nova.conf).
    """
    last = None
    for index, word in enumerate(template_argv):
        if word == "--config-file":
            last = index + 1
        elif word.startswith("--config-file="):
            last = index
    if last is None or last >= len(template_argv):
        raise InputError(f"catalog command `{' '.join(template_argv)}` names no "
                         "--config-file: the cell URLs cannot be passed in a file")
    argv = [*template_argv[:last + 1], "--config-file", config_path,
            *template_argv[last + 1:]]
    if _without_broker(update.transport_url):
        argv += [transport_option, update.transport_url]
    return argv


def _redacting(log: LogSink) -> LogSink:
    # list_cells --verbose prints every cell's URLs with their passwords; mask each
    # line before it reaches the log whatever the host's streaming does.
    return lambda line: log(redact(line))


def list_cells(host: Host, service_info: ServiceInfo, bin_dir: str, etc_dir: str,
               log: LogSink) -> list[CellMapping]:
    """Raises CommandFailed when list_cells fails or prints no table."""
    template = service_info.cell_mappings["list"]
    argv = render(template, {"bin": bin_dir.rstrip("/"), "etc": etc_dir.rstrip("/")})
    run = execute(host, argv, service=service_info.name, stage="list_cells",
                  timeout=LIST_TIMEOUT, log=_redacting(log))
    if run.returncode != 0:
        raise CommandFailed(service_info.name, "list_cells",
                            f"`{display(argv)}` exited {run.returncode}",
                            returncode=run.returncode, output_tail=run.tail)
    try:
        return parse_cell_list(run.stdout)
    except ValueError as exc:
        raise CommandFailed(service_info.name, "list_cells", str(exc),
                            output_tail=run.tail) from None


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


def update_cell_mappings(host: Host, service_info: ServiceInfo, bin_dir: str, etc_dir: str,
                         *, database_url: str, transport_url: str | None,
                         old_databases: Iterable[tuple[str, int]], log: LogSink
                         ) -> CellMappingResult:
    """Point every cell at `database_url`'s server and `transport_url`, then prove it.

    `old_databases` are the old side's (host, port): afterwards no cell may name one.
    Raises CommandFailed when nova-manage fails (rc 3: another cell already uses the
    URL), VerificationError when a cell still names an old database or differs from
    what was set, InputError when a cell URL cannot be re-targeted.
    """
    started = time.monotonic()
    values = {"bin": bin_dir.rstrip("/"), "etc": etc_dir.rstrip("/")}
    before = list_cells(host, service_info, bin_dir, etc_dir, log)
    if not before:
        raise VerificationError(f"{host.name}: nova_api has no cell mappings: "
                                "was the nova_api database copied?")
    try:
        updates = plan_cell_updates(before, database_url=database_url,
                                    transport_url=transport_url)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    mapping = service_info.cell_mappings
    for update in updates:
        try:
            config_text = cell_config_text(update)
        except ValueError as exc:
            raise InputError(f"cell {update.name or update.uuid}: {exc}") from None
        template = render(mapping["update"], {**values, "cell_uuid": update.uuid})
        with private_temp_dir(host, "sbs-cells") as directory:
            config_path = f"{directory}/{CELL_CONFIG_NAME}"
            host.put_file(config_path, config_text.encode(), mode=0o600)
            argv = update_cell_argv(template, config_path, update, transport_option=mapping.get(
                "transport_option", "--transport-url"))
            run = execute(host, argv, service=service_info.name,
                          stage=f"update_cell {update.name or update.uuid}",
                          timeout=UPDATE_TIMEOUT, log=_redacting(log))
        if run.returncode != 0:
            why = {1: "cell not found", 2: "the mapping could not be saved",
                   3: "another cell already uses this database or transport URL"}
            raise CommandFailed(service_info.name, "update_cell",
                                f"cell {update.name or update.uuid}: exited "
                                f"{run.returncode} ({why.get(run.returncode, 'failed')})",
                                returncode=run.returncode, output_tail=run.tail)
    after = list_cells(host, service_info, bin_dir, etc_dir, log)
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
