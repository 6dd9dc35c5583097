"""The service catalog: per OpenStack service, what sbs must move and run.

Knowledge lives in `catalog.yaml` beside this module; this module only gives it
types. The upgrade order is fixed here and enforced by the planner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import yaml

SERVICE_ORDER: tuple[str, ...] = (
    "keystone", "glance", "placement", "nova", "neutron", "cinder", "horizon", "heat",
)


@dataclass(frozen=True)
class SyncCommand:
    """One db_sync stage. `ok_codes` are exit codes that count as success;
    `until_rc`/`more_codes` describe commands re-run while they report more work
    (online data migrations)."""

    name: str
    run: str
    ok_codes: tuple[int, ...] = (0,)
    until_rc: int | None = None
    more_codes: tuple[int, ...] = ()
    max_rounds: int = 1


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    databases: tuple[str, ...]
    config_files: tuple[str, ...]
    key_repositories: tuple[str, ...]
    db_sync: tuple[SyncCommand, ...]
    status_check: str | None = None
    review_files: tuple[str, ...] = ()
    cell_mappings: dict[str, str] = field(default_factory=dict)
    api_port: int | None = None
    api_check: str | None = None


@cache
def catalog() -> dict[str, ServiceInfo]:
    raw = yaml.safe_load(resources.files("sidebyside.services").joinpath(
        "catalog.yaml").read_text())
    result: dict[str, ServiceInfo] = {}
    for name in SERVICE_ORDER:
        entry = raw[name]
        syncs = tuple(
            SyncCommand(name=s["name"], run=s["run"], ok_codes=tuple(s.get("ok_codes", [0])),
                        until_rc=s.get("until_rc"), more_codes=tuple(s.get("more_codes", [])),
                        max_rounds=int(s.get("max_rounds", 1)))
            for s in entry.get("db_sync", []))
        api = entry.get("api") or {}
        result[name] = ServiceInfo(
            name=name,
            databases=tuple(entry.get("databases", [])),
            config_files=tuple(entry.get("config_files", [])),
            key_repositories=tuple(entry.get("key_repositories", [])),
            db_sync=syncs,
            status_check=entry.get("status_check"),
            review_files=tuple(entry.get("review_files", [])),
            cell_mappings=dict(entry.get("cell_mappings", {})),
            api_port=api.get("port"),
            api_check=api.get("check"),
        )
    return result


def service(name: str) -> ServiceInfo:
    """Raises KeyError for an unknown service."""
    return catalog()[name]


def databases_of(services: list[str]) -> list[str]:
    return [db for s in services for db in service(s).databases]
