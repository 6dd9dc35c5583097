"""The compute nodes after the cutover: one node's upgrade procedure (its order, and
what it refuses to call done), the pictures compared after the rolling upgrade, the
services finalize waits for, the pins it removes, and the plans of `sbs computes
upgrade` and `sbs finalize`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sidebyside.actions.computes import (
    UPGRADING_FACT,
    RequireComputesOnOldReleaseAction,
    RequireNewServingAction,
    nodes_upgraded_since,
)
from sidebyside.actions.context import ActionContext
from sidebyside.actions.finalize import behind_cinder_services
from sidebyside.cloud.compute_services import ComputeService
from sidebyside.computes.pins import pins, remove_manual_pins
from sidebyside.computes.registry import RegisteredCinderService
from sidebyside.computes.upgrade import (
    ComputePicture,
    NodeEffects,
    compare_pictures,
    old_services,
    upgrade_node,
)
from sidebyside.computes.versions import RegisteredCompute
from sidebyside.engine.executor import StepContext
from sidebyside.engine.journal import Journal, RunStatus
from sidebyside.errors import InputError, PreflightError, VerificationError
from sidebyside.inventory import parse_inventory
from sidebyside.plan import build_plan
from sidebyside.plan.model import Changes, Step
from sidebyside.services.catalog import service
from tests.conftest import example_inventory
from tests.unit.test_computes_follow import Clock

VERSIONS = service("nova").compute_versions


class Node:
    """A compute node and its control plane as upgrade_node sees them: every effect
    called is recorded in order; the heartbeat moves only while the service runs."""

    def __init__(self, *, version_after: int = 72) -> None:
        self.calls: list[str] = []
        self.running = True
        self.beats = 0
        self.version = 68
        self.version_after = version_after
        self.upgraded = False

    def effects(self) -> NodeEffects:
        def record(name: str, result: Any = None) -> Any:
            self.calls.append(name)
            return result

        def stop() -> list[str]:
            self.running = False
            return record("stop", ["nova-compute"])

        def start() -> list[str]:
            self.running = True
            if self.upgraded:
                self.version = self.version_after
            return record("start", ["nova-compute"])

        def upgrade() -> dict[str, Any]:
            self.upgraded = True
            return record("upgrade", {"kind": "command", "rc": 0})

        def heartbeat() -> ComputeService:
            if self.running:
                self.beats += 1
            return ComputeService("cmp1", "up" if self.running else "down", "disabled",
                                  f"beat-{self.beats}")

        return NodeEffects(disable=lambda reason: record(f"disable: {reason}"), stop=stop,
                           heartbeat=heartbeat, upgrade=upgrade, start=start,
                           version=lambda: self.version, enable=lambda: record("enable"))


def test_a_node_is_disabled_stopped_upgraded_started_and_enabled_only_at_the_new_version():
    node, clock, lines = Node(), Clock(), []
    done = upgrade_node("cmp1", node.effects(), release="2026.1", target_version=72,
                        timeout=60, log=lines.append, clock=clock, sleep=clock.sleep)
    assert node.calls == ["disable: sbs computes upgrade: upgrading to 2026.1", "stop",
                          "upgrade", "start", "enable"]
    assert done.version == 72 and done.heartbeat is not None
    assert done.automation == {"kind": "command", "rc": 0}
    assert any("up at service version 72 (2026.1)" in line for line in lines)


def test_a_node_that_comes_back_at_the_old_version_is_left_disabled():
    node, clock = Node(version_after=68), Clock()  # the automation changed nothing
    with pytest.raises(VerificationError) as raised:
        upgrade_node("cmp1", node.effects(), release="2026.1", target_version=72,
                     timeout=30, log=lambda _line: None, clock=clock, sleep=clock.sleep)
    assert "service version 68, 2026.1's is 72" in raised.value.message
    assert "enable" not in node.calls


def up(host: str, status: str = "enabled") -> ComputeService:
    return ComputeService(host, "up", status, "t")


def picture(*hosts: str, providers: tuple[str, ...] = ("rp1", "rp2")) -> ComputePicture:
    return ComputePicture({h: up(h) for h in hosts}, tuple(hosts), providers)


def test_the_pictures_match_when_every_node_is_back_at_the_new_version():
    registered = [RegisteredCompute("cmp1", 72, "nova"), RegisteredCompute("cmp2", 72, "nova")]
    assert compare_pictures(picture("cmp1", "cmp2"), picture("cmp1", "cmp2"), registered,
                            release="2026.1", target_version=72, versions=VERSIONS) == []


def test_a_lost_hypervisor_a_disabled_node_and_an_old_version_are_each_named():
    before = picture("cmp1", "cmp2")
    after = ComputePicture({"cmp1": up("cmp1", "disabled")}, ("cmp1",), ("rp1", "rp2"))
    registered = [RegisteredCompute("cmp1", 68, "nova")]
    problems = compare_pictures(before, after, registered, release="2026.1",
                                target_version=72, versions=VERSIONS)
    assert problems == [
        "compute cmp1 is up, disabled",
        "compute cmp2 is no longer registered",
        "hypervisors changed: 2 before, 1 after; gone: cmp2",
        "compute cmp1 runs service version 68 (2025.1), not 2026.1's 72",
    ]


def test_the_picture_survives_the_journal():
    before = picture("cmp1")
    assert ComputePicture.from_dict(before.to_dict()).to_dict() == before.to_dict()


def test_finalize_waits_for_every_old_nova_service_and_any_cinder_one_behind():
    nova = [RegisteredCompute("cmp1", 68, "nova"),
            RegisteredCompute("ctl1", 72, "nova", binary="nova-conductor"),
            RegisteredCompute("cmp2", 72, "nova")]
    assert [(c.host, c.version) for c in old_services(nova, 72)] == [("cmp1", 68)]
    cinder = [RegisteredCinderService("ctl1", "cinder-volume", "3.17", "1.40"),
              RegisteredCinderService("stor1", "cinder-volume", "3.16", "1.40"),
              RegisteredCinderService("ctl1", "cinder-scheduler", "3.12", "1.39")]
    assert [r.host for r in behind_cinder_services(cinder)] == ["stor1"]


NOVA_CONF = (b"[DEFAULT]\ndebug = true\n\n[upgrade_levels]\n# by hand, for the window\n"
             b"compute = 2025.1\nscheduler = auto\n")


def test_only_pins_set_by_hand_are_removed_and_the_reason_is_left():
    changed, removed = remove_manual_pins(NOVA_CONF, release="2026.1")
    assert removed == ["[upgrade_levels] compute = 2025.1"]
    assert pins(changed) == {"scheduler": "auto"}
    assert b"# sbs removed 'compute' because every nova service runs 2026.1" in changed
    assert changed.startswith(b"[DEFAULT]\ndebug = true\n")
    assert remove_manual_pins(changed, release="2026.1") == (changed, [])


def production(**changes: Any) -> Any:
    data = example_inventory("production.yaml")
    data["computes"].update(changes)
    return parse_inventory(data)


def test_the_computes_runbook_records_then_upgrades_then_verifies():
    plan = build_plan(production(), "computes-upgrade")
    assert [(s.id, s.gate) for s in plan.steps] == [
        ("computes-upgrade.new-serves", True), ("computes-upgrade.nodes", False),
        ("computes-upgrade.verify", False)]
    nodes = plan.steps[1]
    assert nodes.hosts == ("cmp1", "cmp2") and nodes.changes == Changes.COMPUTES
    assert plan.steps[0].params == {"record_picture": True}


def test_without_an_upgrade_automation_there_is_no_computes_runbook():
    data = example_inventory("production.yaml")
    del data["computes"]["upgrade"]
    with pytest.raises(InputError) as raised:
        build_plan(parse_inventory(data), "computes-upgrade")
    assert "computes.upgrade" in raised.value.message
    with pytest.raises(InputError, match="names no compute nodes"):
        build_plan(parse_inventory(example_inventory("minimal.yaml")), "computes-upgrade")


def test_finalize_refuses_first_then_unpins_restarts_nova_and_migrates_in_order():
    plan = build_plan(production(), "finalize")
    ids = [s.id for s in plan.steps]
    assert ids[:2] == ["finalize.new-serves", "finalize.nothing-old"]
    assert all(s.gate for s in plan.steps[:2])
    assert ids.index("finalize.rpc-pins") < ids.index("finalize.stop-new.nova") \
        < ids.index("finalize.start-new.nova") < ids.index("finalize.db.keystone")
    assert [i.rsplit(".", 1)[1] for i in ids if i.startswith("finalize.db.")] == [
        "keystone", "glance", "placement", "nova", "neutron", "cinder"]
    assert ids[-1] == "finalize.verify-vip"
    # nothing of finalize touches the old side
    assert {s.changes for s in plan.steps} <= {Changes.NOTHING, Changes.NEW_SIDE}


# ---- the gates, against a real journal ------------------------------------------------

def context(tmp_path: Path) -> tuple[Journal, ActionContext]:
    journal = Journal(tmp_path)
    return journal, ActionContext(inventory=production(), hosts=lambda name: None,  # type: ignore[arg-type, return-value]
                                  state_dir=tmp_path)


def step_context(journal: Journal, run_id: int, step: Step) -> StepContext:
    return StepContext(run_id=run_id, step=step, journal=journal, options={})


GATE = Step(id="x.gate", action="gate", title="", changes=Changes.NOTHING)


def test_after_the_cutover_is_rolled_back_nothing_runs_on_the_new_control_plane(tmp_path):
    journal, ctx = context(tmp_path)
    gate = RequireNewServingAction(ctx)
    run = journal.start_run("computes-upgrade", "prod", [], argv=[])
    with pytest.raises(PreflightError, match="no cutover has run"):
        gate.run(GATE, step_context(journal, run, GATE))
    cutover = journal.start_run("cutover", "prod", [], argv=[])
    journal.finish_run(cutover, RunStatus.ROLLED_BACK, 0, "rolled back")
    with pytest.raises(PreflightError, match=f"cutover \\(run {cutover}\\) is rolled-back"):
        gate.run(GATE, step_context(journal, run, GATE))
    cutover = journal.start_run("cutover", "prod", [], argv=[])
    journal.finish_run(cutover, RunStatus.DONE, 0, "done")
    assert gate.run(GATE, step_context(journal, run, GATE)) == {"cutover_run": cutover}


def test_rollback_refuses_once_a_node_began_its_upgrade_after_the_cutover(tmp_path):
    journal, ctx = context(tmp_path)
    gate = RequireComputesOnOldReleaseAction(ctx)
    earlier = journal.start_run("computes-upgrade", "prod", [], argv=[])
    journal.set_fact(UPGRADING_FACT + "cmp9", {"run": earlier, "release": "2025.1"})
    cutover = journal.start_run("cutover", "prod", [], argv=[])
    rollback = journal.start_run("rollback", "prod", [], argv=[])
    # a node upgraded before this cutover (an earlier upgrade) does not count
    assert gate.run(GATE, step_context(journal, rollback, GATE))
    upgrade = journal.start_run("computes-upgrade", "prod", [], argv=[])
    journal.set_fact(UPGRADING_FACT + "cmp2", {"run": upgrade, "release": "2026.1"})
    assert nodes_upgraded_since(journal, cutover) == {"cmp2": "2026.1"}
    with pytest.raises(PreflightError) as raised:
        gate.run(GATE, step_context(journal, rollback, GATE))
    assert "cmp2 (2026.1)" in raised.value.message and "cmp9" not in raised.value.message
