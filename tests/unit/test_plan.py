"""Plans: order of services and phases, ids, what rollback reverses, the window estimate."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from sidebyside.cli.output import render_plan_markdown, render_plan_text
from sidebyside.inventory import Inventory, parse_inventory
from sidebyside.plan import Changes, Plan, Step, build_plan
from sidebyside.plan.builder import COMMANDS
from sidebyside.plan.estimate import estimate_window
from sidebyside.services.catalog import SERVICE_ORDER, catalog
from tests.conftest import example_inventory

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def production():
    return parse_inventory(example_inventory("production.yaml"))


def ids(plan, prefix):
    return [s.id for s in plan.steps if s.id.startswith(prefix)]


def test_db_syncs_are_one_chain_per_service_along_the_release_path():
    for command in ("prepare", "cutover"):
        plan = build_plan(production(), command)
        syncs = [s for s in plan.steps if s.action == "db_sync_chains"]
        assert [s.id for s in syncs] == [f"{command}.db-sync"]
        chains = syncs[0].params
        assert chains["services"] == [s for s in SERVICE_ORDER if catalog()[s].db_sync]
        assert chains["path"] == ["2025.1", "2026.1"]  # each chain: its releases in order
        # nova's cell mappings head nova's chain (before any nova db sync)
        assert chains["cell_mappings"] is True
        assert "cell-mappings" not in " ".join(s.id for s in plan.steps)


def test_services_listed_out_of_order_are_planned_in_upgrade_order():
    data = example_inventory("production.yaml")
    data["services"] = list(reversed(data["services"]))
    plan = build_plan(parse_inventory(data), "prepare")
    assert plan.step("prepare.db-sync").params["services"][:2] == ["keystone", "glance"]


def test_without_nova_no_chain_starts_with_cell_mappings():
    data = example_inventory("minimal.yaml")
    plan = build_plan(parse_inventory(data), "prepare")
    assert "nova" not in data["services"]
    assert plan.step("prepare.db-sync").params["cell_mappings"] is False


def test_prepare_copies_before_config_before_sync_before_start():
    plan = build_plan(production(), "prepare")
    order = [s.action for s in plan.steps]
    assert order[:2] == ["prove_sides_distinct", "preflight"]
    assert order.index("backup") < order.index("deploy") < order.index("copy_databases")
    assert order.index("copy_databases") < order.index("migrate_config") < order.index(
        "db_sync_chains") < order.index("start_service")
    assert order[-1] == "verify_side"


def without_write_freeze():
    data = example_inventory("production.yaml")
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
    for command in COMMANDS:
        for step in build_plan(production(), command).steps:
            if step.changes == Changes.OLD_SERVICES:
                assert step.action in ("stop_service", "start_service"), step.id
                assert step.params["side"] == "old"


def test_rollback_starts_old_before_switching_back_and_reports_writes_first():
    plan = build_plan(production(), "rollback")
    actions = [s.action for s in plan.steps]
    # the gates, then the report: the compute nodes must still run the old release
    assert actions[:3] == ["prove_sides_distinct", "require_computes_on_old_release",
                           "report_new_writes"]
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
            if step.action in ("db_sync_chains", "upgrade_check"):
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


def test_window_estimate_of_a_read_only_window(monkeypatch: pytest.MonkeyPatch):
    inv = production()
    plan = build_plan(inv, "cutover")
    recorded = {step.id: 10.0 for step in build_plan(inv, "prepare").steps}
    window = estimate_window(plan, inv, recorded)
    ids = [s.id for s in plan.steps]
    writes = ids[ids.index("cutover.freeze-writes.keystone"):ids.index("cutover.thaw-writes") + 1]
    assert window.downtime == pytest.approx(sum(window.steps[i].seconds for i in writes))
    # every seed service answers reads on the old side until its switch
    assert window.read_downtime == 0.0

    # a service that cannot (its reads would write) fails reads from its stop, before
    # the final copy, to the last switch
    from sidebyside.plan import builder
    nova = dataclasses.replace(catalog()["nova"], serves_reads_while_frozen=False)
    monkeypatch.setattr(builder, "service",
                        lambda name: nova if name == "nova" else catalog()[name])
    plan = build_plan(inv, "cutover")
    ids = [s.id for s in plan.steps]
    assert ids.index("cutover.drain.nova") < ids.index("cutover.stop-old.nova") \
        < ids.index("cutover.final-copy")
    assert plan.step("cutover.snapshot").params["services"] == ["nova"]
    window = estimate_window(plan, inv, recorded)
    reads = ids[ids.index("cutover.stop-old.nova"):max(
        i for i, s in enumerate(ids) if s.startswith("cutover.switch.")) + 1]
    assert window.read_downtime == pytest.approx(sum(window.steps[i].seconds for i in reads))
    assert window.read_downtime > 0


def test_window_estimate_unknown_without_timings():
    inv = production()
    window = estimate_window(build_plan(inv, "cutover"), inv, {})
    assert window.verdict == "UNKNOWN"
    assert "cutover.final-copy" in window.unknown


def test_read_only_window_freezes_every_backend_first_and_keeps_read_apis_until_switch():
    plan = build_plan(production(), "cutover")
    order = [s.id for s in plan.steps]
    freezes = [s.service for s in plan.steps if s.action == "freeze_writes"]
    # every service has a backend in the example; horizon, without a database, writes
    # only through the frozen APIs (its logins must pass once the new keystone serves)
    assert freezes == [s for s in SERVICE_ORDER if s != "horizon"]
    thaw = next(s for s in plan.steps if s.action == "thaw_writes")
    assert thaw.params["services"] == freezes
    first_freeze = order.index(f"cutover.freeze-writes.{SERVICE_ORDER[0]}")
    assert order.index(f"cutover.freeze-writes.{SERVICE_ORDER[-1]}") < min(
        i for i, s in enumerate(order) if s.startswith(("cutover.drain.", "cutover.stop-old")))
    # what needs no freeze happens before the window: the config delta, stopping the
    # new services (no traffic yet)
    assert all(order.index(s) < first_freeze for s in order
               if s.startswith(("cutover.config", "cutover.stop-new")))
    config = plan.step("cutover.config")
    assert config.params == {"services": list(SERVICE_ORDER), "delta": True}
    readable = [s for s in SERVICE_ORDER if catalog()[s].serves_reads_while_frozen]
    # Every seed service keeps answering reads on the old side through the window: the
    # ones with workers too (their heartbeats are told from a user's write by the
    # proof below); a service without the flag would drain and stop before the copy.
    assert readable == list(SERVICE_ORDER)
    final_copy = order.index("cutover.final-copy")
    assert not [s for s in order if s.startswith("cutover.drain.")]
    stop_old = plan.step("cutover.stop-old")  # together, once writes reopened
    assert stop_old.params == {"side": "old", "services": list(SERVICE_ORDER)}
    assert order.index("cutover.stop-old") > order.index("cutover.thaw-writes")
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
    assert plan.step("cutover.snapshot").params == {"side": "old", "services": []}
    assert plan.step("cutover.verify-vip").params == {"live_old": readable}
    assert order[-1] == "cutover.stop-old"


def test_rollback_thaws_writes_only_after_every_switch_back():
    order = [s.id for s in build_plan(production(), "rollback").steps]
    last_switch = max(i for i, s in enumerate(order) if s.startswith("rollback.switch."))
    assert order.index("rollback.thaw-writes") > last_switch
    assert "rollback.thaw-writes" not in [
        s.id for s in build_plan(without_write_freeze(), "rollback").steps]


def test_classic_cutover_has_no_window_steps():
    actions = {s.action for s in build_plan(without_write_freeze(), "cutover").steps}
    assert not actions & {"freeze_writes", "thaw_writes", "verify_old_untouched"}


# Inventory shapes every cutover must be reversible in: with and without HAProxy, its
# write freeze and keepalived; one or three controllers; several service sets.
def _example(name: str) -> dict[str, Any]:
    return example_inventory(f"{name}.yaml")


def _only(data: dict[str, Any], services: list[str]) -> dict[str, Any]:
    data["services"] = services
    blocks = [data["old"]["services"], data["new"]["services"]]
    if data["ha"].get("haproxy"):
        blocks.append(data["ha"]["haproxy"]["backends"])
    for block in blocks:
        for name in [k for k in block if k not in services]:
            del block[name]
    return data


def _one_controller(data: dict[str, Any]) -> dict[str, Any]:
    data["old"]["controllers"], data["new"]["controllers"] = ["ctl1-old"], ["ctl1-new"]
    for backend in data["ha"]["haproxy"]["backends"].values():
        backend["old"], backend["new"] = ["ctl1-old"], ["ctl1-new"]
    return data


def _minimal_keepalived(data: dict[str, Any]) -> dict[str, Any]:
    data["ha"]["keepalived"] = {"instance": "VI_1", "vip": "10.0.0.10/24",
                                "old": ["old-ctl1"], "new": ["new-ctl1"]}
    return data


def _drop(*path: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def mutate(data: dict[str, Any]) -> dict[str, Any]:
        node = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
        return data
    return mutate


def _freeze(data: dict[str, Any]) -> dict[str, Any]:
    data["ha"]["haproxy"]["write_freeze"] = {"map": "/etc/haproxy/sbs-write-freeze.map"}
    return data


def _no_freeze(data: dict[str, Any]) -> dict[str, Any]:
    return _drop("ha", "haproxy", "write_freeze")(data)


SHAPES: dict[str, Callable[[], dict[str, Any]]] = {
    "production": lambda: _example("production"),
    "production, drain": lambda: _no_freeze(_example("production")),
    "production, no keepalived": lambda: _drop("ha", "keepalived")(_example("production")),
    "production, keepalived only": lambda: _drop("ha", "haproxy")(_example("production")),
    "production, one controller": lambda: _one_controller(_example("production")),
    "production, one controller, drain": lambda: _no_freeze(
        _one_controller(_example("production"))),
    "production, keystone and glance": lambda: _only(_example("production"),
                                                     ["keystone", "glance"]),
    "production, nova and heat": lambda: _only(_example("production"), ["nova", "heat"]),
    "production, nova and heat, drain": lambda: _no_freeze(
        _only(_example("production"), ["nova", "heat"])),
    "production, nova without a backend": lambda: _drop(
        "ha", "haproxy", "backends", "nova")(_example("production")),
    "production, nova without a backend, drain": lambda: _no_freeze(_drop(
        "ha", "haproxy", "backends", "nova")(_example("production"))),
    "minimal": lambda: _example("minimal"),
    "minimal, write freeze": lambda: _freeze(_example("minimal")),
    "minimal, keepalived, write freeze": lambda: _freeze(_minimal_keepalived(
        _example("minimal"))),
    # a write freeze with no backend to freeze: the drain, the VIP moved by keepalived
    "minimal, keepalived, write freeze, no backends": lambda: _freeze(_minimal_keepalived(
        _drop("ha", "haproxy", "backends")(_example("minimal")))),
}


def shape(name: str) -> Inventory:
    return parse_inventory(SHAPES[name]())


def _reversal(step: Step, inv: Inventory) -> tuple[str, Callable[[Step], bool]]:
    """The rollback step that puts back what cutover `step` changed, and what that
    step must do for it."""
    def switches_back(svc: str) -> tuple[str, Callable[[Step], bool]]:
        return f"rollback.switch.{svc}", lambda back: (
            back.action == "switch_traffic" and back.params == {"to": "old"})

    def starts_old(*services: str) -> tuple[str, Callable[[Step], bool]]:
        return "rollback.start-old", lambda back: (
            back.action == "start_service" and back.params["side"] == "old"
            and set(services) <= set(back.params["services"]))

    haproxy = inv.ha.haproxy
    if step.action == "switch_traffic":
        return switches_back(str(step.service))
    if step.action == "drain":  # the old servers drained are made ready by the switch back
        if haproxy is not None and step.service in haproxy.backends:
            return switches_back(str(step.service))
        return starts_old(str(step.service))  # no backend: only its queues were waited for
    if step.action == "stop_service" and step.params["side"] == "old":
        return starts_old(*([step.service] if step.service else step.params["services"]))
    if step.action == "move_vip":
        return "rollback.move-vip", lambda back: back.params == {"to": "old"}
    if step.action == "freeze_writes":
        return "rollback.thaw-writes", lambda back: (
            back.action == "thaw_writes" and step.service in back.params["services"])
    if step.action == "open_token_issue":  # logins reach the old keystone again
        return switches_back("keystone")
    raise AssertionError(f"{step.id}: no rollback step reverses {step.action}")


@pytest.mark.parametrize("name", list(SHAPES))
def test_every_cutover_step_on_traffic_or_old_services_is_reversed_by_the_rollback_plan(
        name: str) -> None:
    # The engine's undo of a cutover is the rollback plan (sbs rollback, or by itself
    # once traffic moved): nothing the cutover does to traffic or the old services may
    # be left out of it.
    inv = shape(name)
    rollback = build_plan(inv, "rollback")
    for step in build_plan(inv, "cutover").steps:
        if step.changes not in (Changes.TRAFFIC, Changes.OLD_SERVICES):
            continue
        if step.action == "thaw_writes":  # writes reopen where traffic goes: every switch back
            reversals = [_reversal(Step(id=f"x.{svc}", action="switch_traffic", title="",
                                        changes=Changes.TRAFFIC, service=svc), inv)
                         for svc in step.params["services"]]
        else:
            reversals = [_reversal(step, inv)]
        for back_id, does in reversals:
            assert does(rollback.step(back_id)), (step.id, back_id)


def test_the_reversing_steps_of_the_rollback_plan_come_in_an_order_that_loses_no_write():
    # old services up before traffic goes back; writes reopen only once every backend
    # serves the old side again (both also what the guarded run's fallback runs)
    order = [s.id for s in build_plan(production(), "rollback").steps]
    switches = [i for i, s in enumerate(order) if s.startswith("rollback.switch.")]
    assert order.index("rollback.start-old") < order.index("rollback.move-vip") < min(switches)
    assert max(switches) < order.index("rollback.thaw-writes")


@pytest.mark.parametrize("name", list(SHAPES))
def test_a_cutover_rolls_back_by_itself_from_its_first_step_moving_traffic(name: str) -> None:
    inv = shape(name)
    plan = build_plan(inv, "cutover")
    first = plan.automatic_rollback_from()
    assert first is not None
    moving = [s for s in plan.steps if s.action in ("switch_traffic", "move_vip")]
    assert plan.steps[first] == moving[0]
    assert all(s.action in ("drain", "freeze_writes") for s in plan.steps[:first]
               if s.changes == Changes.TRAFFIC)
    for command in ("prepare", "rollback"):  # neither falls back to another plan
        assert Plan(command=command, environment="t",
                    steps=plan.steps).automatic_rollback_from() is None


def test_sbs_plan_cutover_says_where_the_automatic_rollback_begins_and_promises_no_undo():
    plan = build_plan(production(), "cutover")
    first = plan.automatic_rollback_from()
    assert first is not None and plan.steps[first].id == "cutover.switch.keystone"
    for rendered in (render_plan_text(plan), render_plan_markdown(plan)):
        assert (f"If step {first + 1} (cutover.switch.keystone) or any later step fails, "
                "sbs runs the rollback plan (`sbs plan rollback`, the one `sbs rollback` "
                "runs)") in rendered
        assert "undo" not in rendered.lower()
    assert all("undo" not in step for step in plan.to_dict()["steps"])
    for command in ("prepare", "rollback"):
        assert "rollback plan" not in render_plan_text(build_plan(production(), command))


@pytest.mark.parametrize("command,rolls_back_from", [
    ("cutover", "cutover.switch.keystone"), ("rollback", None), ("prepare", None)])
def test_sbs_plan_json_names_the_step_a_failed_cutover_rolls_back_from(
        command: str, rolls_back_from: str | None, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import sys

    from sidebyside.cli import main as cli_main

    data = _example("minimal")
    password_file = tmp_path / "old-db.password"
    password_file.write_text("pw\n")
    data["old"]["database"]["password_file"] = str(password_file)
    inventory = tmp_path / "sbs.yaml"
    inventory.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("SBS_NEW_DB_PASSWORD", "pw")
    monkeypatch.setattr(sys, "argv", ["sbs", "plan", command, "-i", str(inventory),
                                      "--state-dir", str(tmp_path / "state"), "--json"])
    with pytest.raises(SystemExit) as done:
        cli_main.run()
    out, err = capsys.readouterr()
    assert done.value.code in (0, None), err
    printed = json.loads(out)
    assert printed["automatic_rollback_from"] == rolls_back_from
    assert all("undo" not in step for step in printed["steps"])
