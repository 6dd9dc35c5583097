"""Real keepalived in two network namespaces (sbs-t-a, sbs-t-b) on a bridge: the VIP
starts on A and moves to B by a track file priority change, back, and by a stop."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sidebyside.lab.netns import (
    BridgedNamespaces,
    KeepalivedInNetns,
    addresses_in,
    namespace_exists,
)
from sidebyside.remote.netns import NetnsHost
from sidebyside.traffic.errors import TrafficNotSettled
from sidebyside.traffic.keepalived import KeepalivedControl, holds_address
from sidebyside.traffic.templates import render_keepalived_conf
from sidebyside.traffic.waiting import wait_until
from tests.conftest import loopback_address

pytestmark = pytest.mark.integration

VIP = "10.213.0.100"
NODES = {"sbs-t-a": ("ka-a", "10.213.0.2/24", 150), "sbs-t-b": ("ka-b", "10.213.0.3/24", 100)}


@dataclass
class VrrpPair:
    control: KeepalivedControl
    daemons: dict[str, KeepalivedInNetns]   # node name -> its keepalived
    log: list[str]


@pytest.fixture
def vrrp_pair(tmp_path: Path) -> Iterator[VrrpPair]:
    if os.geteuid() != 0 or not shutil.which("keepalived") or not shutil.which("ip"):
        pytest.skip("needs root, ip and keepalived (apt-get install keepalived iproute2)")
    network = BridgedNamespaces("sbs-t-br", {ns: address for ns, (_, address, _) in
                                             NODES.items()})
    daemons: dict[str, KeepalivedInNetns] = {}
    track_files: dict[str, str] = {}
    try:
        network.create()
        for namespace, (name, _, priority) in NODES.items():
            run_dir = tmp_path / name
            run_dir.mkdir()
            track_files[name] = str(run_dir / "sbs-priority")
            config = run_dir / "keepalived.conf"
            config.write_text(render_keepalived_conf(
                instance="VI_SBS", interface="eth0", vip=f"{VIP}/24", priority=priority,
                track_file=track_files[name], virtual_router_id=213, router_id=name))
            daemons[name] = KeepalivedInNetns(namespace, config, run_dir)
            daemons[name].start()
        log: list[str] = []
        control = KeepalivedControl(
            vip=VIP, wait=wait_until, track_files=track_files, timeout=20, log=log.append,
            nodes={"old": {"ka-a": NetnsHost("ka-a", "sbs-t-a")},
                   "new": {"ka-b": NetnsHost("ka-b", "sbs-t-b")}})
        yield VrrpPair(control, daemons, log)
    finally:
        for daemon in daemons.values():
            daemon.stop()
        network.destroy()
        assert not namespace_exists("sbs-t-a") and not namespace_exists("sbs-t-b")


def wait_for_holder(control: KeepalivedControl, name: str, timeout: float = 15) -> None:
    done, holders = wait_until(control.holders, lambda names: names == [name],
                               timeout=timeout, interval=0.2,
                               waiting_for=lambda names: f"holders {names}")
    assert done, f"VIP held by {holders}, expected {name}"


def test_vip_moves_by_track_file_and_back(vrrp_pair: VrrpPair) -> None:
    control = vrrp_pair.control
    wait_for_holder(control, "ka-a")  # the higher priority wins the first election
    assert holds_address(addresses_in("sbs-t-a"), VIP)
    assert not holds_address(addresses_in("sbs-t-b"), VIP)

    started = time.monotonic()
    result = control.move_vip("new")
    moved_in = time.monotonic() - started
    assert result["holder"] == "ka-b" and result["side"] == "new"
    assert holds_address(addresses_in("sbs-t-b"), VIP)
    assert not holds_address(addresses_in("sbs-t-a"), VIP)
    assert control.holder_side() == "new"
    assert moved_in < 15
    assert Path(control.track_files["ka-a"]).read_text().strip() == "-100"
    assert any("track file" in line for line in vrrp_pair.log)

    control.move_vip("old")
    assert holds_address(addresses_in("sbs-t-a"), VIP)
    assert not holds_address(addresses_in("sbs-t-b"), VIP)


def test_vip_moves_when_the_old_side_stops(vrrp_pair: VrrpPair) -> None:
    control = vrrp_pair.control
    wait_for_holder(control, "ka-a")
    control.stop_command = ("kill", "-TERM", str(vrrp_pair.daemons["ka-a"].pid))
    result = control.move_vip("new", method="stop")
    assert result["holder"] == "ka-b"
    assert holds_address(addresses_in("sbs-t-b"), VIP)
    assert vrrp_pair.daemons["ka-a"].process is not None
    assert vrrp_pair.daemons["ka-a"].process.wait(timeout=10) is not None


def test_move_that_cannot_happen_times_out_naming_the_holder(vrrp_pair: VrrpPair) -> None:
    control = vrrp_pair.control
    wait_for_holder(control, "ka-a")
    control.penalty = 10  # 150 - 10 still beats 100: the VIP stays on A
    control.timeout = 4
    with pytest.raises(TrafficNotSettled, match="held by ka-a"):
        control.move_vip("new")


def test_move_vip_step_through_an_inventory(vrrp_pair: VrrpPair, tmp_path: Path) -> None:
    """The plan's move_vip step: hosts of transport netns, the track file placed under
    each host's root (both keepalived instances share this machine's filesystem)."""
    from types import SimpleNamespace
    from typing import Any

    from sidebyside.actions import ActionSet
    from sidebyside.engine.environment import Environment
    from sidebyside.inventory import parse_inventory
    from sidebyside.plan.model import Changes, Step

    def side(name: str, address: str) -> dict[str, Any]:
        return {"controllers": [name], "database": {"host": address, "port": 3306},
                "cloud": name, "services": {"keystone": {"units": ["apache2"]}}}

    hosts = {name: {"address": address.split("/")[0], "transport": "netns", "netns": ns,
                    "root": str(tmp_path / name)}
             for ns, (name, address, _) in NODES.items()}
    address = {"old": loopback_address(), "new": loopback_address()}  # named, never bound
    hosts.update({"old": {"address": address["old"], "transport": "local"},
                  "new": {"address": address["new"], "transport": "local"}})
    inv = parse_inventory({
        "environment": "vip-test", "release": {"from": "2025.1", "to": "2026.1"},
        "services": ["keystone"], "hosts": hosts,
        "old": side("old", address["old"]), "new": side("new", address["new"]),
        "ha": {"keepalived": {"instance": "VI_SBS", "vip": VIP, "old": ["ka-a"],
                              "new": ["ka-b"], "track_file": "/sbs-priority"}},
    })
    move = ActionSet(Environment(inventory=inv, state_dir=tmp_path / "state"))["move_vip"]
    ctx: Any = SimpleNamespace(log=vrrp_pair.log.append, options={"vip_timeout": 20})
    to_new = Step(id="cutover.move-vip", action="move_vip", title="", params={"to": "new"},
                  changes=Changes.TRAFFIC)
    wait_for_holder(vrrp_pair.control, "ka-a")
    assert move.verify(to_new, ctx) is False
    assert move.run(to_new, ctx)["holder"] == "ka-b"
    assert move.verify(to_new, ctx) is True
    assert (tmp_path / "ka-a" / "sbs-priority").read_text().strip() == "-100"
    assert holds_address(addresses_in("sbs-t-b"), VIP)


def test_restart_right_after_stop_and_retake(vrrp_pair: VrrpPair) -> None:
    """start() waits for the stopped instance's pid files (a restart within ~1 s of a
    stop otherwise fails); the higher priority node then takes the VIP back."""
    control = vrrp_pair.control
    wait_for_holder(control, "ka-a")
    daemon = vrrp_pair.daemons["ka-a"]
    first_pid = daemon.pid
    daemon.stop()
    wait_for_holder(control, "ka-b")
    assert daemon.start() != first_pid
    wait_for_holder(control, "ka-a")
    assert daemon.pid is not None
