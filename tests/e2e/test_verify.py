"""`sbs verify` and the verification steps against the real lab (old side served, new
side installed and empty, as after `sbs lab up`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidebyside.actions import ActionSet
from sidebyside.cloud.connection import connect
from sidebyside.db.copy import copy_databases
from sidebyside.db.endpoint import endpoint_from_inventory
from sidebyside.engine.environment import Environment
from sidebyside.engine.executor import StepContext
from sidebyside.engine.journal import Journal
from sidebyside.errors import VerificationError
from sidebyside.inventory import load_inventory
from sidebyside.lab import seed
from sidebyside.plan.model import Changes, Step
from tests.e2e.conftest import RunningLab

pytestmark = pytest.mark.e2e


def sbs(lab: RunningLab, *args: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from sidebyside.cli.main import run; run()", "verify",
         "-i", str(lab.state_dir / "sbs.yaml"), "--state-dir", str(state_dir), *args],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


def test_smoke_passes_on_the_old_side_before_prepare(lab: RunningLab, tmp_path: Path) -> None:
    result = sbs(lab, "--side", "old", "--json", state_dir=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    checks = {(c["service"], c["check"]): c for c in report["smoke"]["checks"]}
    for name in ("token", "catalog", "projects", "users", "roles", "groups"):
        assert checks[("keystone", name)]["status"] == "pass"
    # The seeded image is downloaded from the old glance and its checksums compared.
    download = checks[("glance", "image download")]
    assert download["status"] == "pass" and seed.IMAGE_NAME in download["detail"]
    assert str(len(seed.IMAGE_DATA)) in download["detail"]
    # nova is installed database-only in the lab: no compute endpoint to smoke.
    assert checks[("nova", "flavors")]["status"] == "skip"
    assert Path(report["files"]["report"]).is_file()


def test_the_new_side_is_not_served_before_prepare(lab: RunningLab, tmp_path: Path) -> None:
    result = sbs(lab, "--side", "new", state_dir=tmp_path)
    assert result.returncode == 8, result.stdout + result.stderr
    assert "lab-new" in result.stderr and "clouds.yaml" in result.stderr


def test_cutover_snapshot_then_verify_vip_catches_a_project_created_since(
        lab: RunningLab, tmp_path: Path) -> None:
    inventory = load_inventory(lab.state_dir / "sbs.yaml")
    actions = ActionSet(Environment(inventory=inventory, state_dir=tmp_path / "state"))
    journal = Journal(tmp_path / "state")
    snap = Step(id="cutover.snapshot", action="snapshot_resources", changes=Changes.LOCAL,
                title="snapshot")
    vip = Step(id="cutover.verify-vip", action="verify_vip", changes=Changes.NOTHING,
               title="verify vip")
    run_id = journal.start_run("cutover", inventory.environment,
                               [snap.to_dict(), vip.to_dict()], [])

    def context(step: Step) -> StepContext:
        return StepContext(run_id=run_id, step=step, journal=journal, options={})

    try:
        actions["snapshot_resources"].run(snap, context(snap))
        facts = json.loads((lab.state_dir / "seed.json").read_text())
        stored = journal.fact("cutover.snapshot")
        assert set(facts["projects"].values()) <= set(stored["projects"])
        assert facts["images"][seed.IMAGE_NAME]["id"] in stored["images"]
        assert actions["verify_vip"].run(vip, context(vip)) is not None

        conn = connect(inventory.old.cloud, lab.state_dir / "clouds.yaml")
        extra = conn.identity.create_project(name=f"e2e-{uuid.uuid4().hex[:8]}",
                                             domain_id="default")
        try:
            with pytest.raises(VerificationError) as caught:
                actions["verify_vip"].run(vip, context(vip))
            assert extra.id in caught.value.message
        finally:
            conn.identity.delete_project(extra.id)
        # Gone again: the VIP is back at parity with the snapshot.
        assert actions["verify_vip"].run(vip, context(vip)) is not None
    finally:
        journal.close()


@pytest.fixture(scope="module")
def new_side_served(lab: RunningLab, tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[RunningLab]:
    """What `sbs prepare` leaves for keystone and glance, in miniature: the databases
    copied to the new server, the key repositories carried over, the new release's
    db_sync, the new services started. `sbs lab reset` undoes it all afterwards."""
    inventory = load_inventory(lab.state_dir / "sbs.yaml")
    copy_databases(endpoint_from_inventory(inventory.old.database),
                   endpoint_from_inventory(inventory.new.database), ["keystone", "glance"],
                   replace=True, state_dir=tmp_path_factory.mktemp("copy"))
    old_etc, new_etc = (lab.state_dir / side / "etc" for side in ("old", "new"))
    try:
        for keys in ("fernet-keys", "credential-keys"):
            shutil.rmtree(new_etc / "keystone" / keys, ignore_errors=True)
            shutil.copytree(old_etc / "keystone" / keys, new_etc / "keystone" / keys)
        new_bin = lab.state_dir / "new" / "usr" / "bin"
        for tool, conf in (("keystone-manage", new_etc / "keystone" / "keystone.conf"),
                           ("glance-manage", new_etc / "glance" / "glance-api.conf")):
            subprocess.run([str(new_bin / tool), "--config-file", str(conf), "db_sync"],
                           check=True, capture_output=True, timeout=600,
                           stdin=subprocess.DEVNULL)
        for service in ("keystone", "glance"):
            lab.cli("service", "start", "--side", "new", service)
        yield lab
    finally:
        lab.cli("reset")


def test_smoke_and_parity_pass_on_the_new_side_after_prepare(new_side_served: RunningLab,
                                                             tmp_path: Path) -> None:
    result = sbs(new_side_served, "--side", "new", "--json", state_dir=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["smoke"]["ok"] and report["parity"]["ok"]
    types = {t["resource"]: t for t in report["parity"]["types"]}
    assert types["projects"]["left_count"] == types["projects"]["right_count"] >= 4
    assert types["images"]["right_count"] >= 1


def test_parity_finds_a_project_created_on_the_new_side_only(new_side_served: RunningLab,
                                                             tmp_path: Path) -> None:
    conn = connect("lab-new", new_side_served.state_dir / "clouds.yaml")
    extra = conn.identity.create_project(name=f"e2e-new-only-{uuid.uuid4().hex[:8]}",
                                         domain_id="default")
    try:
        result = sbs(new_side_served, "--side", "new", "--json", state_dir=tmp_path)
    finally:
        conn.identity.delete_project(extra.id)
    assert result.returncode == 9, result.stdout + result.stderr
    report = json.loads(result.stdout)
    (projects,) = [t for t in report["parity"]["types"] if t["resource"] == "projects"]
    assert projects["only_right"] == [extra.id] and projects["only_left"] == []


def test_comparison_of_the_two_keystone_releases(new_side_served: RunningLab,
                                                 tmp_path: Path) -> None:
    result = sbs(new_side_served, "--side", "new", "--compare", "--rounds", "5", "--json",
                 state_dir=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    calls = {c["scenario"]: c for c in report["comparison"]["calls"]}
    assert {"token issue", "list projects", "list images"} <= set(calls)
    for call in calls.values():
        assert call["old"]["samples"] == call["new"]["samples"] == 5
        assert call["old"]["p50_ms"] > 0 and call["new"]["p50_ms"] > 0
        assert call["ratio_p50"] is not None
    assert report["comparison"]["capacity"]["new"][0]["cpus"] >= 1
    svg = Path(report["files"]["chart"])
    assert svg.is_file() and "token issue" in svg.read_text()
