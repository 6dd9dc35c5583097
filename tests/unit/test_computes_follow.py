"""Compute nodes following the control plane's bus: the config edit (pure), the wait
for a heartbeat (fake clock), the inventory's `computes`, and where the plans put it."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from sidebyside.actions.computes import batches
from sidebyside.cloud.compute_services import ComputeService
from sidebyside.computes.follow import KEPT_SUFFIX, move_configs, wait_registered
from sidebyside.config.migrate import bus_move_between
from sidebyside.config.translate import BusMove, follow_bus
from sidebyside.errors import InputError, VerificationError
from sidebyside.inventory import parse_inventory
from sidebyside.plan import build_plan
from sidebyside.remote.local import LocalHost
from tests.conftest import example_inventory

NOVA_CONF = b"""[DEFAULT]
# the cloud's bus
transport_url = rabbit://nova:s3cret@10.0.0.21:5672,nova:s3cret@10.0.0.22:5672/
host = cmp1

[oslo_messaging_notifications]
transport_url = rabbit://nova:s3cret@10.0.0.21:5672/notifications
"""
BUS = BusMove(old_vhost="/", new_vhost="/", old_hosts=frozenset({"10.0.0.21", "10.0.0.22"}),
              new_host="10.1.0.21")


def test_follow_bus_moves_the_old_bus_urls_and_nothing_else() -> None:
    moved, keys = follow_bus(NOVA_CONF, BUS, path="/etc/nova/nova.conf")
    assert keys == ["[DEFAULT] transport_url"]
    # another vhost (notifications) is not the old side's RPC bus: left as it was
    assert moved == NOVA_CONF.replace(
        b"nova:s3cret@10.0.0.21:5672,nova:s3cret@10.0.0.22:5672/\n",
        b"nova:s3cret@10.1.0.21:5672,nova:s3cret@10.1.0.21:5672/\n")


def test_following_twice_changes_nothing_and_back_restores_the_vhost() -> None:
    vhosts = BusMove(old_vhost="cloud-old", new_vhost="cloud-new")
    text = b"[DEFAULT]\ntransport_url = rabbit://u:p@h:5672/cloud-old\n"
    once, keys = follow_bus(text, vhosts, path="nova.conf")
    assert keys and b"/cloud-new\n" in once
    assert follow_bus(once, vhosts, path="nova.conf") == (once, [])
    back, _ = follow_bus(once, BusMove(old_vhost="cloud-new", new_vhost="cloud-old"),
                         path="nova.conf")
    assert back == text


def test_move_configs_keeps_owner_mode_and_the_original_once(tmp_path: Path) -> None:
    etc = tmp_path / "etc" / "nova"
    etc.mkdir(parents=True)
    conf = etc / "nova.conf"
    conf.write_bytes(b"[DEFAULT]\ntransport_url = rabbit://u:p@h:5672/cloud-old\n")
    conf.chmod(0o640)
    vhosts = BusMove(old_vhost="cloud-old", new_vhost="cloud-new")
    host = LocalHost("cmp1")
    moved = move_configs(host, str(tmp_path), ["/etc/nova/nova.conf"], vhosts,
                         keep_original=True)
    assert moved == ["/etc/nova/nova.conf [DEFAULT] transport_url"]
    assert conf.read_bytes().endswith(b"/cloud-new\n")
    assert stat.S_IMODE(os.stat(conf).st_mode) == 0o640
    kept = Path(str(conf) + KEPT_SUFFIX)
    assert kept.read_bytes().endswith(b"/cloud-old\n")
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o640
    back = BusMove(old_vhost="cloud-new", new_vhost="cloud-old")
    move_configs(host, str(tmp_path), ["/etc/nova/nova.conf"], back, keep_original=False)
    assert conf.read_bytes() == kept.read_bytes()


def test_move_configs_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"/etc/nova/nova.conf does not exist \(computes"):
        move_configs(LocalHost("cmp1"), str(tmp_path), ["/etc/nova/nova.conf"], BUS,
                     keep_original=True)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_registered_only_with_a_heartbeat_newer_than_before_the_restart() -> None:
    clock = Clock()
    seen = iter([None, ComputeService("cmp1", "up", "enabled", "T0"),
                 ComputeService("cmp1", "up", "enabled", "T1")])
    got = wait_registered(lambda: next(seen), "T0", node="cmp1", timeout=60,
                          clock=clock, sleep=clock.sleep)
    assert got.updated_at == "T1" and clock.now == 4.0


def test_a_node_without_a_new_heartbeat_fails_saying_what_was_seen() -> None:
    clock = Clock()
    with pytest.raises(VerificationError, match="within 10s: state up, last heartbeat T0 "
                                                r"\(from before the restart\)"):
        wait_registered(lambda: ComputeService("cmp1", "up", "enabled", "T0"), "T0",
                        node="cmp1", timeout=10, clock=clock, sleep=clock.sleep)


def test_a_forced_down_service_is_not_registered() -> None:
    clock = Clock()
    with pytest.raises(VerificationError, match="state up"):
        wait_registered(lambda: ComputeService("cmp1", "up", "enabled", "T9", forced_down=True),
                        None, node="cmp1", timeout=4, clock=clock, sleep=clock.sleep)


def test_batches_keep_the_inventory_order() -> None:
    assert batches(["a", "b", "c"], 2) == [["a", "b"], ["c"]]
    assert batches(["a", "b", "c"], 1) == [["a"], ["b"], ["c"]]


def production() -> dict[str, Any]:
    return example_inventory("production.yaml")  # type: ignore[no-any-return]


def test_the_plans_move_the_computes_after_the_switch_before_writes_reopen() -> None:
    inv = parse_inventory(production())
    cutover = [s.id for s in build_plan(inv, "cutover").steps]
    follow = cutover.index("cutover.computes-follow")
    assert max(i for i, s in enumerate(cutover) if s.startswith("cutover.switch.")) < follow
    assert follow < cutover.index("cutover.verify-vip") < cutover.index("cutover.thaw-writes")
    rollback = [s.id for s in build_plan(inv, "rollback").steps]
    back = rollback.index("rollback.computes-follow")
    assert rollback.index("rollback.start-old") < back \
        < rollback.index("rollback.stop-new.keystone")
    step = build_plan(inv, "rollback").step("rollback.computes-follow")
    assert step.params == {"to": "old"} and step.hosts == ("cmp1", "cmp2")


def test_without_computes_the_plans_have_no_such_step() -> None:
    data = production()
    del data["computes"]
    inv = parse_inventory(data)
    for command in ("cutover", "rollback"):
        assert not [s for s in build_plan(inv, command).steps if s.action == "follow_bus"]


def test_the_bus_moves_both_ways_between_the_brokers() -> None:
    inv = parse_inventory(production())
    there, back = bus_move_between(inv, "old", "new"), bus_move_between(inv, "new", "old")
    assert there is not None and back is not None
    assert there.new_host == "10.20.1.21" and back.new_host == "10.20.0.21"


@pytest.mark.parametrize(("change", "field", "message"), [
    (lambda d: d["computes"]["nodes"].update({"cmp9": d["computes"]["nodes"]["cmp1"]}),
     "computes.nodes.cmp9", "not defined under hosts"),
    (lambda d: d["computes"]["nodes"].update({"ctl1-old": d["computes"]["nodes"]["cmp1"]}),
     "computes.nodes.ctl1-old", "is a controller"),
    (lambda d: d["computes"].update({"batch_size": 0}), "computes.batch_size", "greater than"),
    (lambda d: d["computes"]["nodes"]["cmp1"].update({"configs": ["nova.conf"]}),
     "computes.nodes.cmp1.configs", "absolute"),
])
def test_bad_computes_name_the_field(change: Any, field: str, message: str) -> None:
    data = production()
    change(data)
    with pytest.raises(InputError) as caught:
        parse_inventory(data, source="inv.yaml")
    assert field in caught.value.message and message in caught.value.message
