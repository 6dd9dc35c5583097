"""Where verification may write (pure): only the new side, directly or through a VIP
known to serve it with writes open; the old side never gets a write call, whichever way
verification is reached (the verify steps, `sbs verify`), proven with recording
stand-in connections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sidebyside.actions.cloud import VerifySideAction, VerifyVipAction
from sidebyside.actions.context import ActionContext
from sidebyside.cli.verify import vip_serves
from sidebyside.cloud.verify import database_only, run_verify, smoke_side, write_guard
from sidebyside.cloud.writes import WriteGuard, own_resource_name, write_refusal
from sidebyside.engine.executor import StepContext
from sidebyside.engine.journal import Journal, RunStatus
from sidebyside.inventory import Inventory, parse_inventory
from sidebyside.plan.model import Changes, Step
from tests.conftest import example_inventory
from tests.unit.cloud_fakes import CATALOG, FakeConnection, new_side_overrides

OLD_HOST, NEW_HOST = "10.0.0.11", "10.0.0.12"  # examples/minimal.yaml's controllers


# the decision ---------------------------------------------------------------------

@pytest.mark.parametrize(("target", "serves", "takes_writes", "allowed"), [
    ("new", None, False, True),
    ("old", None, False, False),
    ("old", "new", True, False),  # nothing the caller knows makes the old side writable
    ("vip", "new", True, True),
    ("vip", "new", False, False),  # the cutover's read-only window
    ("vip", "old", True, False),  # before a cutover, after a rollback
    ("vip", None, True, False),  # not known
    ("elsewhere", "new", True, False),
])
def test_only_the_new_side_may_be_written(target: str, serves: str | None,
                                          takes_writes: bool, allowed: bool) -> None:
    refusal = write_refusal(target, vip_serves=serves, vip_takes_writes=takes_writes)
    assert (refusal is None) is allowed
    if not allowed:
        assert refusal  # a reason for the report, never an empty string


def test_refusals_say_why() -> None:
    assert "old side" in (write_refusal("old") or "")
    assert "serves the old side" in (write_refusal("vip", vip_serves="old",
                                                   vip_takes_writes=True) or "")
    assert "read-only window" in (write_refusal("vip", vip_serves="new") or "")


def test_own_resource_names_are_prefixed_and_random() -> None:
    names = {own_resource_name() for _ in range(50)}
    assert len(names) == 50
    assert all(n.startswith("sbs-verify-") and len(n) == 19 for n in names)


def test_the_guard_refuses_old_hosts_and_catalog_urls_on_a_direct_target() -> None:
    guard = WriteGuard(cloud="new", direct=True,
                       forbidden_hosts={OLD_HOST: "old controller old-ctl1"})
    assert guard.refusal("compute", f"http://{NEW_HOST}:8774/v2.1", True) is None
    on_old = guard.refusal("compute", f"http://{OLD_HOST}:8774/v2.1", True)
    assert on_old and "old controller old-ctl1" in on_old
    catalog = guard.refusal("block-storage", "http://vip:8776/v3", False)
    assert catalog and "no block_storage_endpoint_override" in catalog
    through_vip = WriteGuard(cloud="vip", direct=False,
                             forbidden_hosts={"ctl1-old.example.net": "old controller x"})
    assert through_vip.refusal("compute", "http://vip:8774/v2.1", False) is None
    # one host, however it is spelled
    assert through_vip.refusal("compute", "http://CTL1-old.Example.net.:8774", False)
    assert "not a URL" in (through_vip.refusal("compute", "http://[10.0.0.1]:1", True) or "")


# the inventory's api: false -----------------------------------------------------------

def inventory_with(api: dict[str, bool] | None = None) -> Inventory:
    data = example_inventory("minimal.yaml")
    for side, value in (api or {}).items():
        data[side]["services"]["glance"]["api"] = value
    return parse_inventory(data, "sbs.yaml")


def test_database_only_follows_the_targets_side() -> None:
    inv = inventory_with({"new": False})
    assert database_only(inv, "new") == {"glance": "inventory: new.services.glance.api "
                                                   "is false"}
    assert database_only(inv, "old") == {}
    assert database_only(inv, "vip", "new") == database_only(inv, "new")
    assert database_only(inv, "vip", "old") == {}
    assert database_only(inv, "vip") == {}  # not known which: checked, and fails if absent
    both = inventory_with({"old": False, "new": False})
    assert database_only(both, "vip") == {
        "glance": "inventory: old.services.glance.api and new.services.glance.api are false"}


# the callers: the old side never gets a write call ---------------------------------

class RecordingClouds:
    """Clouds' stand-in: one recording connection per target. Old and new reached
    directly on their controllers, the VIP through the catalog."""

    def __init__(self, clouds_yaml: Path) -> None:
        self.clouds_yaml = clouds_yaml
        self.conns = {"old": FakeConnection(CATALOG, new_side_overrides(OLD_HOST)),
                      "new": FakeConnection(CATALOG, new_side_overrides(NEW_HOST)),
                      "vip": FakeConnection(CATALOG)}

    def __call__(self, side: str) -> Any:
        return self.conns[side]

    def close(self) -> None:
        pass

    def writes(self, side: str) -> list[str]:
        return self.conns[side].writes


@pytest.fixture
def clouds(tmp_path: Path) -> RecordingClouds:
    def cloud(host: str) -> dict[str, Any]:
        return {"auth": {"auth_url": f"http://{host}:5000/v3", "username": "admin",
                         "password": "x", "project_name": "admin"}}
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"old": cloud(OLD_HOST), "new": cloud(NEW_HOST),
                                               "vip": cloud("vip")}}))
    return RecordingClouds(path)


def run_step(action_class: type, step: Step, clouds: RecordingClouds, tmp_path: Path,
             inv: Inventory | None = None) -> tuple[Any, StepContext]:
    inv = inv or inventory_with()
    action = action_class(ActionContext(inv, lambda name: None, tmp_path),
                          clouds=lambda _: clouds)
    journal = Journal(tmp_path / "state")
    run_id = journal.start_run("cutover", inv.environment, [step.to_dict()])
    ctx = StepContext(run_id, step, journal, {})
    return action.run(step, ctx), ctx


def verify_step(action: str, **params: Any) -> Step:
    return Step(id=f"t.{action}", action=action, changes=Changes.NOTHING, title="verify",
                params=params)


def test_verify_side_old_makes_no_write_call(clouds: RecordingClouds, tmp_path: Path) -> None:
    result, ctx = run_step(VerifySideAction, verify_step("verify_side", side="old",
                                                         smoke_only=True), clouds, tmp_path)
    assert result["checks"] > 0 and clouds.conns["old"].calls
    assert clouds.writes("old") == []
    assert any("create/delete checks not run: the old side" in line
               for line in ctx.log_lines)


def test_verify_side_new_writes_the_new_side_only(clouds: RecordingClouds,
                                                  tmp_path: Path) -> None:
    run_step(VerifySideAction, verify_step("verify_side", side="new", smoke_only=True),
             clouds, tmp_path)
    assert clouds.writes("new") == [
        "identity.create_region", "identity.delete_region",
        "image.create_metadef_namespace", "image.delete_metadef_namespace"]
    assert clouds.writes("old") == [] and clouds.writes("vip") == []


def test_verify_side_new_with_parity_reads_the_old_side_only(clouds: RecordingClouds,
                                                             tmp_path: Path) -> None:
    run_step(VerifySideAction, verify_step("verify_side", side="new"), clouds, tmp_path)
    assert clouds.conns["old"].calls  # parity listed it
    assert clouds.writes("old") == []


@pytest.mark.parametrize("params", [
    {"expect": "old"},  # rollback's verification
    {"expect": "old", "allow_added": True},
    {"live_old": ["keystone", "glance"]},  # the read-only window: writes refused
])
def test_verify_vip_writes_nothing_unless_it_serves_new_with_writes_open(
        clouds: RecordingClouds, tmp_path: Path, params: dict[str, Any]) -> None:
    _, ctx = run_step(VerifyVipAction, verify_step("verify_vip", **params), clouds, tmp_path)
    assert clouds.writes("vip") == [] and clouds.writes("old") == []
    assert any("create/delete checks not run" in line for line in ctx.log_lines)


def test_verify_vip_after_a_drained_cutover_writes_through_the_vip(
        clouds: RecordingClouds, tmp_path: Path) -> None:
    run_step(VerifyVipAction, verify_step("verify_vip", allow_added=True), clouds, tmp_path)
    assert "identity.create_region" in clouds.writes("vip")
    assert clouds.writes("old") == [] and clouds.writes("new") == []


def test_a_new_cloud_that_reaches_an_old_controller_is_not_written(
        clouds: RecordingClouds, tmp_path: Path) -> None:
    clouds.conns["new"] = FakeConnection(CATALOG, new_side_overrides(OLD_HOST))
    report = smoke_side(inventory_with(), clouds, "new")  # type: ignore[arg-type]
    refused = [c for c in report.checks if c.name.endswith("create/delete")]
    assert refused and all(c.status == "fail" for c in refused)
    assert "old controller old-ctl1" in refused[0].detail
    assert clouds.conns["new"].writes == []


def test_write_guard_forbids_the_old_side_and_for_direct_targets_the_vip(
        clouds: RecordingClouds) -> None:
    inv = inventory_with()
    direct = write_guard(inv, clouds, "new")  # type: ignore[arg-type]
    assert direct.direct and set(direct.forbidden_hosts) == {OLD_HOST, "vip"}
    through = write_guard(inv, clouds, "vip")  # type: ignore[arg-type]
    assert not through.direct and set(through.forbidden_hosts) == {OLD_HOST}


@pytest.mark.parametrize(("side", "serves", "read_only", "writes"), [
    ("old", None, False, False), ("vip", None, False, False), ("vip", "old", False, False),
    ("vip", "new", False, True), ("vip", "new", True, False), ("new", None, False, True),
    ("new", None, True, False),
])
def test_run_verify_writes_only_where_allowed(clouds: RecordingClouds, side: str,
                                              serves: str | None, read_only: bool,
                                              writes: bool) -> None:
    report = run_verify(inventory_with(), side=side, parity=False, clouds=clouds,  # type: ignore[arg-type]
                        vip_serves=serves, vip_takes_writes=serves == "new",
                        read_only=read_only)
    assert bool(clouds.writes(side)) is writes
    assert clouds.writes("old") == []
    assert report.smoke is not None and bool(report.smoke.no_writes) is not writes
    assert any("create/delete checks not run" in n for n in report.notes) is not writes


# which side the VIP serves, as `sbs verify` reads it from the journal ---------------

@pytest.mark.parametrize(("runs", "serving"), [
    ([], "old"),
    ([("prepare", RunStatus.DONE)], "old"),
    ([("cutover", RunStatus.RUNNING)], None),
    ([("cutover", RunStatus.FAILED)], None),
    ([("cutover", RunStatus.DONE)], "new"),
    ([("cutover", RunStatus.ROLLED_BACK)], "old"),
    ([("cutover", RunStatus.DONE), ("rollback", RunStatus.RUNNING)], None),
    ([("cutover", RunStatus.DONE), ("rollback", RunStatus.FAILED)], None),
    ([("cutover", RunStatus.DONE), ("rollback", RunStatus.DONE)], "old"),
    ([("rollback", RunStatus.DONE), ("cutover", RunStatus.DONE), ("status", RunStatus.DONE)],
     "new"),
])
def test_vip_serves_from_the_journal(tmp_path: Path, runs: list[tuple[str, RunStatus]],
                                     serving: str | None) -> None:
    journal = Journal(tmp_path)
    for command, status in runs:
        run_id = journal.start_run(command, "t", [])
        if status != RunStatus.RUNNING:
            journal.finish_run(run_id, status, 0)
    assert vip_serves(journal) == serving
    journal.close()
    assert vip_serves(None) is None


def test_api_is_a_boolean_and_keystone_cannot_go_without_it() -> None:
    from sidebyside.inventory import InventoryError

    data = example_inventory("minimal.yaml")
    data["old"]["services"]["glance"]["api"] = "false"
    data["new"]["services"]["keystone"]["api"] = False
    with pytest.raises(InventoryError) as caught:
        parse_inventory(data, "sbs.yaml")
    lines = caught.value.message.splitlines()
    assert any(line.startswith("sbs.yaml: old.services.glance.api: ")
               and "boolean" in line for line in lines), lines
    data["old"]["services"]["glance"]["api"] = False
    with pytest.raises(InventoryError) as caught:
        parse_inventory(data, "sbs.yaml")
    assert "sbs.yaml: new.services.keystone.api: keystone cannot be database-only" in \
        caught.value.message
    assert inventory_with().old.services["glance"].api is True  # the default: served
