"""Database-only upgrades of placement, neutron, cinder and heat, 2025.2 -> 2026.1.

2025.2 -> 2026.1 (N -> N+1) is the cheapest real pair: the database is created by
the old release's own tool, then upgraded by run_db_sync with the new release.
Schema changes in that pair: heat 3 migrations, neutron 1 expand; placement and
cinder have none (their stages still run and must succeed). heat goes through the
executor, fast-forward from 2025.1 via 2025.2, so the journal keeps the per-stage
durations of each release's sync.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sidebyside.actions.context import ActionContext
from sidebyside.actions.upgrade import DbSyncChainsAction, UpgradeCheckAction
from sidebyside.engine.executor import Action, Executor
from sidebyside.engine.journal import Journal, StepStatus
from sidebyside.plan.builder import build_plan
from sidebyside.plan.model import Plan
from sidebyside.remote.factory import rooted
from sidebyside.remote.local import LocalHost
from sidebyside.services.catalog import service
from sidebyside.upgrade import run_db_sync
from tests.integration.upgrade.conftest import (
    DbServer,
    make_inventory,
    run_tool,
    write_ini,
)

pytestmark = pytest.mark.integration

OLD, NEW = "2025.2", "2026.1"
FF_OLD = "2025.1"  # heat's fast-forward test starts here and goes via OLD

# service -> (database, config file under /etc, section, the old release's own sync)
SETUP: dict[str, tuple[str, str, str, list[str]]] = {
    "placement": ("placement", "placement/placement.conf", "placement_database",
                  ["placement-manage", "db", "sync"]),
    "neutron": ("neutron", "neutron/neutron.conf", "database",
                ["neutron-db-manage", "upgrade", "heads"]),
    "cinder": ("cinder", "cinder/cinder.conf", "database", ["cinder-manage", "db", "sync"]),
    "heat": ("heat", "heat/heat.conf", "database", ["heat-manage", "db_sync"]),
}


def _old_database(svc: str, db: DbServer, etc: Path, venv: Any, release: str = OLD) -> Path:
    database, config, section, tool = SETUP[svc]
    db.create(database)
    conf = write_ini(etc / config, {section: {"connection": db.url(database)}})
    old_bin = venv(svc, release).bin
    run_tool([str(old_bin / tool[0]), "--config-file", str(conf), *tool[1:]])
    return conf


@pytest.mark.parametrize("svc", ["placement", "neutron", "cinder"])
def test_database_only_upgrade(svc: str, db_servers: tuple[DbServer, DbServer], venv: Any,
                               tmp_path: Path, timed: Callable[[str], Any]) -> None:
    _, new_db = db_servers
    etc = tmp_path / "etc"
    with timed(f"{svc} {OLD} sync (old release, empty database)"):
        _old_database(svc, new_db, etc, venv)
    database = SETUP[svc][0]
    before = new_db.alembic_versions(database)
    with timed(f"{svc} run_db_sync {OLD} -> {NEW}"):
        result = run_db_sync(LocalHost(), service(svc), NEW, str(venv(svc, NEW).bin),
                             str(etc), lambda line: None)
    assert [s.name for s in result.stages] == [c.name for c in service(svc).db_sync]
    assert all(s.returncodes[-1] == 0 for s in result.stages)
    after = new_db.alembic_versions(database)
    if svc == "neutron":
        assert after != before  # 2026.1's expand migration
        assert result.stages[0].returncodes == [0]  # no contract pending beforehand
    else:
        assert after == before  # no schema change in this pair
    print(f"{svc} durations: {result.durations()}")


def test_heat_fast_forward_through_the_executor_journals_stage_durations(
        db_servers: tuple[DbServer, DbServer], venv: Any, tmp_path: Path,
        timed: Callable[[str], Any]) -> None:
    """2025.1 -> via 2025.2 -> 2026.1: the plan's db_sync steps, one per release, each
    with that release's code (new.services.heat.release_bin_dirs), in order."""
    old_db, new_db = db_servers
    bins = {rel: str(venv("heat", rel).bin) for rel in (FF_OLD, OLD, NEW)}
    inv = make_inventory(tmp_path, old_db, new_db, release=(FF_OLD, NEW), via=[OLD],
                         services={"heat": (bins[FF_OLD], bins[NEW])},
                         release_bin_dirs={"heat": {OLD: bins[OLD]}})
    etc = Path(rooted(inv.hosts["new-ctl1"].root, "/etc"))
    with timed(f"heat {FF_OLD} db_sync (old release, empty database)"):
        _old_database("heat", new_db, etc, venv, release=FF_OLD)
    before = new_db.alembic_versions("heat")
    plan = build_plan(inv, "prepare")
    steps = tuple(s for s in plan.steps if s.action in ("upgrade_check", "db_sync_chains"))
    assert [(s.action, s.params.get("path")) for s in steps] == [
        ("upgrade_check", None), ("db_sync_chains", [OLD, NEW])]
    journal = Journal(tmp_path / "state")
    hosts = {"new-ctl1": LocalHost("new-ctl1")}
    context = ActionContext(inv, hosts.__getitem__, tmp_path / "state")
    actions: dict[str, Action] = {"upgrade_check": UpgradeCheckAction(context),
                                  "db_sync_chains": DbSyncChainsAction(context)}
    try:
        with timed(f"heat-status + db_sync {FF_OLD} -> {OLD} -> {NEW} (executor)"):
            outcome = Executor(journal, actions).execute(
                Plan(command="prepare", environment=inv.environment, steps=steps))
        status, chains = (journal.step(outcome.run_id, s.id) for s in steps)
    finally:
        journal.close()
    assert chains.status is StepStatus.DONE and chains.result is not None
    links = chains.result["chains"]["heat"]["links"]
    assert [link["stage"] for link in links] == [f"db-sync {OLD}", f"db-sync {NEW}"]
    via_sync, final_sync = (SimpleNamespace(status=StepStatus.DONE, result=link["result"])
                            for link in links)
    assert status.status is StepStatus.DONE and status.result is not None
    assert status.result["result"] in ("success", "warning")
    assert status.result["checks"], "heat-status reported no checks"
    for record, release in ((via_sync, OLD), (final_sync, NEW)):
        assert record.status is StepStatus.DONE
        assert record.result is not None
        assert record.result["service"] == "heat" and record.result["release"] == release
        assert set(record.result["durations"]) == {"db_sync"}
        assert record.result["durations"]["db_sync"] > 0
        assert record.result["stages"][0]["returncodes"] == [0]
        # each release's own heat-manage ran
        assert f"heat-{release}-" in record.result["stages"][0]["command"]
    assert new_db.alembic_versions("heat") != before  # 2026.1's three migrations
    print(f"heat durations: {OLD} {(via_sync.result or {})['durations']}, "
          f"{NEW} {(final_sync.result or {})['durations']}")
