"""The services a cloud's nova and cinder have registered, read from their databases
(`services` tables: one row per service and host, with the version the service's code
recorded at start). Read only: the session is the caller's, and a ReadOnlySession for
the old side.

nova records one integer for all its binaries (nova/objects/service.py SERVICE_VERSION);
cinder records its RPC and object versions as strings ("3.16") per binary
(cinder/db/sqlalchemy/models.py Service rpc_current_version, object_current_version).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sidebyside.computes.versions import RegisteredCompute
from sidebyside.db.client import text_of


def _has_services_table(conn: Any, database: str) -> bool:
    return bool(conn.query("SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                           "%s AND TABLE_NAME = 'services'", (database,)))


def _quoted(database: str) -> str:
    return "`" + database.replace("`", "``") + "`"


def registered_nova_services(conn: Any, databases: Iterable[str],
                             binaries: Iterable[str] | None = None) -> list[RegisteredCompute]:
    """The rows (not deleted) of the `services` table of every one of `databases` that
    has one (nova's cell databases; nova_api has none), of `binaries` (all when None)."""
    wanted = set(binaries) if binaries is not None else None
    found = []
    for database in databases:
        if not _has_services_table(conn, database):
            continue
        for host, binary, version, disabled, forced_down in conn.query(
                f"SELECT host, `binary`, version, disabled, forced_down FROM "
                f"{_quoted(database)}.services WHERE deleted = 0"):
            if wanted is not None and text_of(binary) not in wanted:
                continue
            found.append(RegisteredCompute(host=text_of(host), version=int(version or 0),
                                           database=database, disabled=bool(disabled),
                                           forced_down=bool(forced_down),
                                           binary=text_of(binary)))
    return found


@dataclass(frozen=True)
class RegisteredCinderService:
    host: str
    binary: str
    rpc_version: str
    object_version: str

    def versions(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return _dotted(self.rpc_version), _dotted(self.object_version)


def _dotted(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        return ()


def registered_cinder_services(conn: Any, database: str) -> list[RegisteredCinderService]:
    """cinder's services (not deleted) with the versions they report."""
    if not _has_services_table(conn, database):
        return []
    return [RegisteredCinderService(text_of(host), text_of(binary), text_of(rpc or ""),
                                    text_of(obj or ""))
            for host, binary, rpc, obj in conn.query(
                f"SELECT host, `binary`, rpc_current_version, object_current_version FROM "
                f"{_quoted(database)}.services WHERE deleted = 0")]
