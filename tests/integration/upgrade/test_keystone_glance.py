"""keystone and glance: a database created by the old release, upgraded by run_db_sync
with the new release's real keystone-manage / glance-manage."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sidebyside.errors import PreflightError
from sidebyside.remote.local import LocalHost
from sidebyside.services.catalog import service
from sidebyside.upgrade import SyncResult, run_db_sync
from sidebyside.upgrade.upgrade_check import Code, check_upgrade_status, require_no_failure
from tests.integration.upgrade.conftest import DbServer, run_tool, write_ini

pytestmark = pytest.mark.integration


def _keystone_etc(root: Path, db: DbServer, database: str) -> Path:
    etc = root / "etc"
    # Key repositories outside /etc/keystone, as under a controller's root prefix: the
    # status check must read them from this config (upstream keystone-status does not).
    for name in ("fernet-keys", "credential-keys"):
        (root / name).mkdir(mode=0o700, exist_ok=True)
        for index in ("0", "1"):  # what `keystone-manage fernet_setup` writes
            (root / name / index).write_bytes(base64.urlsafe_b64encode(os.urandom(32)))
    write_ini(etc / "keystone" / "keystone.conf", {
        "database": {"connection": db.url(database)},
        "fernet_tokens": {"key_repository": str(root / "fernet-keys")},
        "fernet_receipts": {"key_repository": str(root / "fernet-keys")},
        "credential": {"key_repository": str(root / "credential-keys")},
    })
    return etc


@dataclass
class UpgradedKeystone:
    etc: Path
    result: SyncResult
    versions_before: set[str]
    seconds: float


@pytest.fixture(scope="module")
def keystone_upgraded(db_servers: tuple[DbServer, DbServer], venv: Any,
                      tmp_path_factory: pytest.TempPathFactory,
                      timed: Callable[[str], Any]) -> UpgradedKeystone:
    """A keystone database made by 2025.1's db_sync, then run_db_sync with 2026.1."""
    old_db, _ = db_servers
    old_db.create("ks_upgrade")
    root = tmp_path_factory.mktemp("keystone")
    etc = _keystone_etc(root, old_db, "ks_upgrade")
    old, new = venv("keystone", "2025.1"), venv("keystone", "2026.1")
    conf = str(etc / "keystone" / "keystone.conf")
    with timed("keystone 2025.1 db_sync (old release, empty database)"):
        run_tool([str(old.bin / "keystone-manage"), "--config-file", conf, "db_sync"])
    before = old_db.alembic_versions("ks_upgrade")
    with timed("keystone run_db_sync 2025.1 -> 2026.1") as timer:
        result = run_db_sync(LocalHost(), service("keystone"), "2026.1", str(new.bin),
                             str(etc), lambda line: None)
    return UpgradedKeystone(etc=etc, result=result, versions_before=before,
                            seconds=timer.seconds)


def test_keystone_2025_1_to_2026_1(db_servers: tuple[DbServer, DbServer], venv: Any,
                                   keystone_upgraded: UpgradedKeystone) -> None:
    old_db, _ = db_servers
    result = keystone_upgraded.result
    # 2026.1 brings an expand migration: the check said 2 (expand), then 0
    stages = [(s.name, s.returncodes) for s in result.stages]
    assert stages[0] == ("check", [2])
    assert stages[1] == ("expand", [0])
    assert stages[-1] == ("check", [0])
    assert old_db.alembic_versions("ks_upgrade") != keystone_upgraded.versions_before
    assert result.seconds <= keystone_upgraded.seconds + 0.1
    assert all(v > 0 for v in result.durations().values())
    # a second run finds it current and runs only the check
    again = run_db_sync(LocalHost(), service("keystone"), "2026.1",
                        str(venv("keystone", "2026.1").bin), str(keystone_upgraded.etc),
                        lambda line: None)
    assert [(s.name, s.returncodes) for s in again.stages] == [("check", [0])]
    print(f"keystone durations: {result.durations()}")


def test_keystone_status_check_is_parsed_and_a_crashed_checker_blocks(
        venv: Any, keystone_upgraded: UpgradedKeystone, tmp_path: Path) -> None:
    new = venv("keystone", "2026.1")
    report = check_upgrade_status(LocalHost(), service("keystone"), str(new.bin),
                                  str(keystone_upgraded.etc), lambda line: None)
    assert report.items, "keystone-status reported no checks"
    assert report.title == "Upgrade Check Results"
    assert report.code in (Code.SUCCESS, Code.WARNING)
    require_no_failure(report)
    # a checker that cannot even start (no config where the controller's /etc should
    # have it) blocks, naming what it printed
    with pytest.raises(PreflightError) as err:
        check_upgrade_status(LocalHost(), service("keystone"), str(new.bin),
                             str(tmp_path / "missing-etc"), lambda line: None)
    assert "keystone.conf" in err.value.message
    assert err.value.exit_code == 3


def test_glance_2023_2_to_2024_1_expand_and_contract(
        db_servers: tuple[DbServer, DbServer], venv: Any, tmp_path: Path,
        timed: Callable[[str], Any]) -> None:
    # glance's last schema change is 2024.1's expand01 (cache tables); 2024.1 -> 2026.1
    # has none, so the pair with real expand/contract work is 2023.2 -> 2024.1.
    old_db, _ = db_servers
    old_db.create("glance_upgrade")
    etc = tmp_path / "etc"
    conf = write_ini(etc / "glance" / "glance-api.conf",
                     {"database": {"connection": old_db.url("glance_upgrade")}})
    old, new = venv("glance", "2023.2"), venv("glance", "2024.1")
    with timed("glance 2023.2 db sync (old release, empty database)"):
        run_tool([str(old.bin / "glance-manage"), "--config-file", str(conf), "db", "sync"])
    tables_before = {r[0] for r in old_db.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
        ("glance_upgrade",))}
    with timed("glance run_db_sync 2023.2 -> 2024.1"):
        result = run_db_sync(LocalHost(), service("glance"), "2024.1", str(new.bin), str(etc),
                             lambda line: None)
    assert [(s.name, s.returncodes) for s in result.stages] == [
        ("check", [3]), ("expand", [0]), ("check", [5]), ("contract", [0]), ("check", [0])]
    tables_after = {r[0] for r in old_db.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
        ("glance_upgrade",))}
    assert "cached_images" in tables_after - tables_before
    print(f"glance durations: {result.durations()}")
