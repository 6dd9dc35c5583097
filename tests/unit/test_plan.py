"""Plans: order of services and phases, ids, undo, the window estimate."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sidebyside.inventory import parse_inventory
from sidebyside.plan import Changes, build_plan
from sidebyside.plan.estimate import estimate_window
from sidebyside.services.catalog import SERVICE_ORDER, catalog

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def production():
    return parse_inventory(yaml.safe_load((EXAMPLES / "production.yaml").read_text()))


def ids(plan, prefix):
    return [s.id for s in plan.steps if s.id.startswith(prefix)]


def test_db_syncs_follow_service_order_within_each_release_of_the_path():
    plan = build_plan(production(), "prepare")
    syncs = ids(plan, "prepare.db-sync.")
    releases = [s.split(".")[2] + "." + s.split(".")[3] for s in syncs]
    assert releases == sorted(releases)  # every 2025.1 sync before any 2026.1 sync
    for release in ("2025.1", "2026.1"):
        services = [s.rsplit(".", 1)[1] for s in syncs if f".{release}." in s]
        expected = [s for s in SERVICE_ORDER if catalog()[s].db_sync]
        assert services == expected


def test_services_listed_out_of_order_are_planned_in_upgrade_order():
    data = yaml.safe_load((EXAMPLES / "production.yaml").read_text())
    data["services"] = list(reversed(data["services"]))
    plan = build_plan(parse_inventory(data), "prepare")
    assert [s.rsplit(".", 1)[1] for s in ids(plan, "prepare.db-sync.2026.1")][:2] == [
        "keystone", "glance"]


def test_nova_cell_mappings_move_before_any_nova_db_sync():
    for command in ("prepare", "cutover"):
        plan = build_plan(production(), command)
        order = [s.id for s in plan.steps]
        first_nova_sync = min(i for i, s in enumerate(order) if s.endswith(".nova")
                              and ".db-sync." in s)
        assert order.index(f"{command}.cell-mappings") < first_nova_sync


def test_prepare_copies_before_config_before_sync_before_start():
    plan = build_plan(production(), "prepare")
    order = [s.action for s in plan.steps]
    assert order[:2] == ["prove_sides_distinct", "preflight"]
    assert order.index("backup") < order.index("deploy") < order.index("copy_databases")
    assert order.index("copy_databases") < order.index("migrate_config") < order.index(
        "db_sync") < order.index("start_service")
    assert order[-1] == "verify_side"


def without_write_freeze():
    data = yaml.safe_load((EXAMPLES / "production.yaml").read_text())
    del data["ha"]["haproxy"]["write_freeze"]
    return parse_inventory(data)


def test_cutover_drains_and_stops_one_service_at_a_time_then_switches_then_verifies():
    plan = build_plan(without_write_freeze(), "cutover")
    head = [(s.action, s.service) for s in plan.steps[2:18]]
    expected = []
    for svc in SERVICE_ORDER:
        expected += [("drain", svc), ("stop_service", svc)]
    assert head == expected
    actions = [s.action for s in plan.steps]
    assert actions.index("record_position") < actions.index("switch_traffic")
    assert actions.index("switch_traffic") < actions.index("move_vip") < actions.index(
        "verify_vip")
    assert actions[-1] == "verify_vip"
    # writes flow as soon as traffic moves: new resources must not roll the cutover back
    assert plan.steps[-1].params == {"allow_added": True}


def test_no_step_may_write_the_old_side_beyond_stopping_and_starting_services():
    for command in ("prepare", "cutover", "rollback"):
        for step in build_plan(production(), command).steps:
            if step.changes == Changes.OLD_SERVICES:
                assert step.action in ("stop_service", "start_service"), step.id
                assert step.params["side"] == "old"


def test_rollback_starts_old_before_switching_back_and_reports_writes_first():
    plan = build_plan(production(), "rollback")
    actions = [s.action for s in plan.steps]
    assert actions[:2] == ["prove_sides_distinct", "report_new_writes"]
    assert actions.index("verify_old_untouched") < actions.index("start_service")
    assert actions.index("start_service") < actions.index("switch_traffic")
    switches = [s.service for s in plan.steps if s.action == "switch_traffic"]
    assert switches == list(SERVICE_ORDER)  # keystone first: the others need its tokens


def test_cutover_and_rollback_start_every_service_of_a_side_in_one_step():
    # In the window each service's start-up would add up: one step starts them all.
    inv = production()
    for command, side in (("cutover", "new"), ("rollback", "old")):
        plan = build_plan(inv, command)
        [start] = [s for s in plan.steps if s.action == "start_service"]
        assert start.id == f"{command}.start-{side}" and start.service is None
        assert start.params == {"side": side, "services": list(SERVICE_ORDER)}
        assert start.hosts == tuple(inv.side(side).controllers)
    # prepare is not in a window: one service after the other, each checked alone
    assert len([s for s in build_plan(inv, "prepare").steps
                if s.action == "start_service"]) == len(SERVICE_ORDER)


def test_services_started_together_are_estimated_by_the_slowest_alone():
    inv = production()
    plan = build_plan(inv, "cutover")
    recorded = {f"prepare.start-new.{svc}": 3.0 for svc in SERVICE_ORDER}
    recorded["prepare.start-new.nova"] = 11.5
    estimate = estimate_window(plan, inv, recorded)
    assert estimate.steps["cutover.start-new"].seconds == 11.5
    assert estimate.steps["cutover.start-new"].source == "prepare"
    del recorded["prepare.start-new.glance"]  # one service never timed: the default
    assert estimate_window(plan, inv, recorded).steps[
        "cutover.start-new"].source == "default"


def test_step_ids_unique_and_once_per_cloud_commands_on_one_controller():
    inv = production()
    for command in ("prepare", "cutover", "rollback"):
        plan = build_plan(inv, command)
        assert len({s.id for s in plan.steps}) == len(plan.steps)
        for step in plan.steps:
            if step.action in ("db_sync", "update_cell_mappings", "upgrade_check"):
                assert step.hosts == (inv.new.controllers[0],)


def test_unknown_command():
    with pytest.raises(ValueError):
        build_plan(production(), "explode")


def test_window_estimate_uses_recorded_prepare_timings():
    inv = without_write_freeze()
    plan = build_plan(inv, "cutover")
    recorded = {"prepare.copy-databases": 300.0, "prepare.verify-new": 20.0}
    for step in build_plan(inv, "prepare").steps:
        recorded.setdefault(step.id, 10.0)
    window = estimate_window(plan, inv, recorded)
    assert window.steps["cutover.final-copy"].seconds == 300.0
    assert window.steps["cutover.final-copy"].source == "prepare"
    assert window.steps["cutover.drain.keystone"].source == "drain timeout"
    assert not window.unknown
    in_window = [s for s in plan.steps
                 if [x.id for x in plan.steps].index(s.id) >= 2 and s.action != "drain"]
    assert window.downtime == pytest.approx(sum(window.steps[s.id].seconds for s in in_window))
    assert window.verdict == "GO"
    slow = estimate_window(plan, inv, {**recorded, "prepare.copy-databases": 3000.0})
    assert slow.verdict == "NO-GO"
    assert window.read_downtime == window.downtime  # without a read-only window


def test_window_estimate_of_a_read_only_window():
    inv = production()
    plan = build_plan(inv, "cutover")
    recorded = {step.id: 10.0 for step in build_plan(inv, "prepare").steps}
    window = estimate_window(plan, inv, recorded)
    ids = [s.id for s in plan.steps]
    writes = ids[ids.index("cutover.freeze-writes.keystone"):ids.index("cutover.thaw-writes") + 1]
    assert window.downtime == pytest.approx(sum(window.steps[i].seconds for i in writes))
    # reads fail from nova's drain... no: from the first old service stopped (nova's
    # workers) to the last switch; keystone and glance keep answering
    reads = ids[ids.index("cutover.stop-old.nova"):max(
        i for i, s in enumerate(ids) if s.startswith("cutover.switch.")) + 1]
    assert window.read_downtime == pytest.approx(sum(window.steps[i].seconds for i in reads))
    only_api = yaml.safe_load((EXAMPLES / "production.yaml").read_text())
    only_api["services"] = ["keystone", "glance"]
    for block in (only_api["ha"]["haproxy"]["backends"], only_api["old"]["services"],
                  only_api["new"]["services"]):
        for name in [k for k in block if k not in only_api["services"]]:
            del block[name]
    inv2 = parse_inventory(only_api)
    assert estimate_window(build_plan(inv2, "cutover"), inv2, recorded).read_downtime == 0.0


def test_window_estimate_unknown_without_timings():
    inv = production()
    window = estimate_window(build_plan(inv, "cutover"), inv, {})
    assert window.verdict == "UNKNOWN"
    assert "cutover.final-copy" in window.unknown


def test_read_only_window_freezes_every_backend_first_and_keeps_read_apis_until_switch():
    plan = build_plan(production(), "cutover")
    order = [s.id for s in plan.steps]
    freezes = [s.service for s in plan.steps if s.action == "freeze_writes"]
    assert freezes == list(SERVICE_ORDER)  # every service has a backend in the example
    first_freeze = order.index(f"cutover.freeze-writes.{SERVICE_ORDER[0]}")
    assert order.index(f"cutover.freeze-writes.{SERVICE_ORDER[-1]}") < min(
        i for i, s in enumerate(order) if s.startswith(("cutover.drain.", "cutover.stop-old")))
    # what needs no freeze happens before the window: the config delta, stopping the
    # new services (no traffic yet)
    assert all(order.index(s) < first_freeze for s in order
               if s.startswith(("cutover.config.", "cutover.stop-new.")))
    assert len([s for s in order if s.startswith("cutover.config.")]) == len(SERVICE_ORDER)
    readable = [s for s in SERVICE_ORDER if catalog()[s].serves_reads_while_frozen]
    assert readable == ["keystone", "glance", "placement", "horizon"]
    # Services with workers (heartbeats in the database) still drain and stop before
    # the final copy; API-only ones stop only after the switch and the thaw.
    final_copy = order.index("cutover.final-copy")
    for svc in SERVICE_ORDER:
        stop = order.index(f"cutover.stop-old.{svc}")
        if svc in readable:
            assert f"cutover.drain.{svc}" not in order
            assert stop > order.index("cutover.thaw-writes")
        else:
            assert order.index(f"cutover.drain.{svc}") < stop < final_copy
    # The old side is checksummed before the final copy and proven unchanged before any
    # switch; writes reopen only after every switch and the VIP move.
    assert order.index("cutover.old-position") < final_copy
    assert order.index("cutover.old-unchanged") > order.index("cutover.start-new")
    first_switch = min(i for i, s in enumerate(order) if s.startswith("cutover.switch."))
    assert order.index("cutover.old-unchanged") < first_switch
    # Verified through the VIP while writes are still refused (logins let through
    # first): counts cannot drift, and a failed verification loses nothing.
    assert order.index("cutover.move-vip") < order.index("cutover.open-logins") < \
        order.index("cutover.verify-vip") < order.index("cutover.thaw-writes")
    assert plan.step("cutover.record-position").params["sides"] == ["new"]
    assert plan.step("cutover.old-unchanged").params["since"] == "freeze"
    # the services about to stop are counted on the old side once writes are frozen;
    # the others are compared with the old side live, at verification
    assert order.index("cutover.snapshot") == first_freeze + len(freezes)
    assert plan.step("cutover.snapshot").params == {
        "side": "old", "services": [s for s in SERVICE_ORDER if s not in readable]}
    assert plan.step("cutover.verify-vip").params == {"live_old": readable}
    assert order[-1] == f"cutover.stop-old.{readable[-1]}"


def test_rollback_thaws_writes_only_after_every_switch_back():
    order = [s.id for s in build_plan(production(), "rollback").steps]
    last_switch = max(i for i, s in enumerate(order) if s.startswith("rollback.switch."))
    assert order.index("rollback.thaw-writes") > last_switch
    assert "rollback.thaw-writes" not in [
        s.id for s in build_plan(without_write_freeze(), "rollback").steps]


def test_classic_cutover_has_no_window_steps():
    actions = {s.action for s in build_plan(without_write_freeze(), "cutover").steps}
    assert not actions & {"freeze_writes", "thaw_writes", "verify_old_untouched"}
