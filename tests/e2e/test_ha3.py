"""The production shape on the real lab: three controllers a side behind two HAProxy
nodes (`sbs lab up --topology ha3`, on 127.0.2.10-17, beside any default lab).

prepare fails on one host, really: a socket of this test listens on new-ctl3's
keystone address, so that controller's keystone cannot bind it and exits (as a
stray process holding the port would make it on a real controller). The step fails
naming new-ctl3; once the port is free, the re-run starts keystone on new-ctl3 only
(the other two keep their processes, and their journaled per-host results). Then
cutover and rollback, each read back on both HAProxy nodes.
"""

from __future__ import annotations

import configparser
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from sidebyside.inventory import load_inventory
from sidebyside.lab import processes
from sidebyside.lab.layout import TOPOLOGIES, backend_name
from tests.e2e.conftest import (
    RunningLab,
    haproxy_command,
    listening,
    processes_under,
    topology_lab,
)
from tests.e2e.test_upgrade_flow import old_checksums, sbs

# ~2 minutes; also alone: `make test-slow`
pytestmark = [pytest.mark.e2e, pytest.mark.slow_e2e]
TOPOLOGY = TOPOLOGIES["ha3"]
# One hop (the SLURP upgrade): this test is about the fleet, the release path is
# test_upgrade_flow's; it keeps the test within its CI budget.
FROM_RELEASE = "2025.1"
OLD = {c.name for c in TOPOLOGY.side_controllers("old")}
NEW = {c.name for c in TOPOLOGY.side_controllers("new")}
FAILING = TOPOLOGY.controller("new", "new-ctl3")
HA_PORTS = [(node.address, TOPOLOGY.port("keystone")) for node in TOPOLOGY.balancers] + \
    [(c.address, TOPOLOGY.port("keystone")) for c in TOPOLOGY.all_controllers] + \
    [(TOPOLOGY.db_address(side), TOPOLOGY.db_port) for side in ("old", "new")]
START_STEP = "prepare.start-new.keystone"


@pytest.fixture(scope="module")
def ha_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    yield from topology_lab(tmp_path_factory, "ha3", HA_PORTS, services="keystone",
                            from_release=FROM_RELEASE)


def serving(lab: RunningLab, backend: str) -> dict[str, set[str]]:
    """node -> the servers it sends traffic to (not in forced maintenance), read back
    from each node's admin socket."""
    found = {}
    for node in TOPOLOGY.balancers:
        text = haproxy_command(lab.state_dir / node.dir / "haproxy.sock",
                               f"show servers state {backend}")
        rows = [line.split() for line in text.splitlines()[2:] if line.strip()]
        found[node.name] = {f[3] for f in rows if not int(f[6]) & 1}
    return found


def start_step(lab: RunningLab, run_id: int | None = None) -> dict[str, Any]:
    status = sbs(lab, "status", "--json", "--command", "prepare")
    assert status.returncode == 0, status.stderr[-2000:]
    runs = json.loads(status.stdout)["runs"]
    run = runs[-1] if run_id is None else next(r for r in runs if r["id"] == run_id)
    return {"run": run["id"], **next(s for s in run["steps"] if s["id"] == START_STEP)}


def keystone_pid(lab: RunningLab, controller: str) -> int | None:
    return processes.read_pid(lab.state_dir / "run" / f"{controller}-keystone.pid")


def memcache_servers(lab: RunningLab, controller: str) -> str:
    """[cache] memcache_servers of a controller's keystone.conf: a per-host value (the
    lab renders each old controller's own address into it, see keystone.conf.j2)."""
    conf = configparser.ConfigParser(interpolation=None)
    node = TOPOLOGY.controller("old" if controller in OLD else "new", controller)
    conf.read(lab.state_dir / node.dir / "etc" / "keystone" / "keystone.conf")
    return conf.get("cache", "memcache_servers", fallback="")


def test_the_inventory_declares_the_production_shape(ha_lab: RunningLab) -> None:
    inventory = load_inventory(ha_lab.state_dir / "sbs.yaml")
    assert set(inventory.old.controllers) == OLD and set(inventory.new.controllers) == NEW
    assert [n.host for n in inventory.ha.haproxy.nodes] == ["lb1", "lb2"]  # type: ignore[union-attr]
    backend = inventory.ha.haproxy.backends["keystone"]  # type: ignore[union-attr]
    assert set(backend.old) == OLD and set(backend.new) == NEW
    assert (ha_lab.state_dir / "clouds.yaml").is_file()
    # every node declares all six servers, traffic on the three old ones
    assert serving(ha_lab, backend_name("keystone")) == {"lb1": OLD, "lb2": OLD}


def test_prepare_fails_on_one_host_resumes_it_alone_then_cutover_and_rollback(
        ha_lab: RunningLab) -> None:
    before = old_checksums(ha_lab)
    with socket.socket() as squatter:  # holds new-ctl3's keystone port, as a stray would
        squatter.bind((FAILING.address, TOPOLOGY.port("keystone")))
        squatter.listen(1)
        failed = sbs(ha_lab, "prepare", "--yes")
    assert failed.returncode == 4, failed.stderr[-3000:]
    assert f"step {START_STEP} failed: failed on new-ctl3 (" in " ".join(failed.stderr.split())
    assert "Address already in use" in failed.stderr
    first = start_step(ha_lab)
    assert first["status"] == "failed" and set(first["hosts"]) == {"new-ctl1", "new-ctl2"}
    pids = {name: keystone_pid(ha_lab, name) for name in ("new-ctl1", "new-ctl2")}
    assert all(pids.values())

    resumed = sbs(ha_lab, "prepare", "--yes")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    out = resumed.stdout + resumed.stderr
    assert "new-ctl1: already done in an earlier attempt" in out
    assert "new-ctl2: already done in an earlier attempt" in out
    second = start_step(ha_lab, first["run"])  # the same run, resumed
    assert second["status"] == "done" and second["attempts"] == 2
    assert set(second["hosts"]) == NEW
    for name in ("new-ctl1", "new-ctl2"):  # not run again: same result, same process
        assert second["hosts"][name] == first["hosts"][name]
        assert keystone_pid(ha_lab, name) == pids[name]
    assert second["hosts"]["new-ctl3"]["done_at"] > max(
        h["done_at"] for h in first["hosts"].values())
    assert serving(ha_lab, "keystone_api") == {"lb1": OLD, "lb2": OLD}  # no traffic moved

    # Each new controller got its own counterpart's per-host value (new-ctlN <- old-ctlN
    # by position), translated to its own address: not old-ctl1's, and not new-ctl1's.
    for index, (old, new) in enumerate(zip(TOPOLOGY.side_controllers("old"),
                                           TOPOLOGY.side_controllers("new"), strict=True)):
        assert memcache_servers(ha_lab, old.name) == f"{old.address}:11211"
        assert memcache_servers(ha_lab, new.name) == f"{new.address}:11211", new.name
        if index:
            assert TOPOLOGY.side_controllers("new")[0].address not in \
                memcache_servers(ha_lab, new.name)
    # prepare's backup holds every old controller's keystone config and keys, hashed
    backup = ha_lab.state_dir / "flow-state" / "backups" / f"run{first['run']}" / "configs"
    entries = json.loads((backup / "manifest.json").read_text())["entries"]
    backed_up = {(e["controller"], e["path"]) for e in entries if "sha256" in e}
    for name in OLD:
        assert (name, "/etc/keystone/keystone.conf") in backed_up
        assert any(c == name and p.startswith("/etc/keystone/fernet-keys/")
                   for c, p in backed_up), name

    cut = sbs(ha_lab, "cutover", "--yes")
    assert cut.returncode == 0, cut.stderr[-3000:]
    assert serving(ha_lab, "keystone_api") == {"lb1": NEW, "lb2": NEW}
    assert old_checksums(ha_lab) == before  # the old controllers were never written

    rolled = sbs(ha_lab, "rollback", "--yes", "--accept-data-loss")
    assert rolled.returncode == 0, rolled.stderr[-3000:]
    assert serving(ha_lab, "keystone_api") == {"lb1": OLD, "lb2": OLD}
    assert old_checksums(ha_lab) == before
    assert all(keystone_pid(ha_lab, name) is None for name in NEW)  # stopped by rollback


def test_zz_down_leaves_no_process_of_the_lab(ha_lab: RunningLab) -> None:
    stopped = json.loads(ha_lab.cli("down", "--json").stdout)["stopped"]
    assert {"haproxy-lb1", "haproxy-lb2", "old-mariadb", "new-mariadb"} <= set(stopped)
    assert not listening(HA_PORTS)
    assert not processes_under(ha_lab.state_dir)
