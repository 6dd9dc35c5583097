"""The whole cloud through prepare, cutover and rollback (`sbs lab up --topology cloud`,
on 127.0.3.10-12, beside any default lab).

Both sides run placement, nova (API, conductor, scheduler) and neutron-server with ML2
on their own RabbitMQ vhost; the old side has a compute node (nova's fake virt driver,
the one stand-in, shipped by nova) with a server ACTIVE on a port of a seeded network.
One SLURP hop (2025.1 -> 2026.1): nova 2026.1 refuses computes older than 2025.1, so a
2024.1 compute cannot stay through the cutover (`nova-status upgrade check` says so,
and prepare stops there).

What it proves: after prepare the old side's queues have only old consumers, and the
new workers consume their own vhost; the seeded resources are there with the same
content through the VIP after cutover and again after rollback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sidebyside.lab import broker
from sidebyside.lab.layout import TOPOLOGIES, LabLayout
from tests.e2e.conftest import RunningLab, listening, processes_under, topology_lab
from tests.e2e.test_upgrade_flow import sbs

pytestmark = [pytest.mark.e2e, pytest.mark.slow_e2e]
TOPOLOGY = TOPOLOGIES["cloud"]
FROM_RELEASE = "2025.1"
SERVICES = "keystone,glance,placement,nova,neutron"
CLOUD_PORTS = [(TOPOLOGY.vip, TOPOLOGY.port(s)) for s in ("keystone", "nova", "neutron")] + \
    [(TOPOLOGY.db_address(side), TOPOLOGY.db_port) for side in ("old", "new")]


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    yield from topology_lab(tmp_path_factory, "cloud", CLOUD_PORTS, services=SERVICES,
                            from_release=FROM_RELEASE)


def side_of(state_dir: Path, pid: int | None) -> str:
    """Which side a consumer's process belongs to, by the files its command line names
    (every lab process names its controller's or the compute node's root); a worker
    that renamed itself (oslo.service's `nova-scheduler: ServiceWrapper worker(0)`) by
    its parent's."""
    for _ in range(4):
        if pid is None:
            return "unknown"
        try:
            proc = Path(f"/proc/{pid}")
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            parent = int((proc / "stat").read_text().rsplit(")", 1)[-1].split()[1])
        except OSError:
            return "gone"
        for side, roots in (("new", ("new",)), ("old", ("old", "compute1"))):
            if any(f"{state_dir}/{root}/" in cmdline for root in roots):
                return side
        pid = parent
    return "unknown"


def consumers_by_side(lab: RunningLab, side: str) -> dict[str, set[str]]:
    """vhost of `side` -> {side of each consumer's process}, by queue."""
    found: dict[str, set[str]] = {}
    for consumer in broker.consumers(broker.vhost(LabLayout(lab.state_dir), side)):
        found.setdefault(consumer.queue, set()).add(side_of(lab.state_dir, consumer.pid))
    return found


def vip_view(lab: RunningLab) -> dict[str, Any]:
    """What a user sees through the VIP: the seeded server, network and port."""
    from sidebyside.lab import seed

    conn = seed.connect(lab.state_dir / "clouds.yaml", "lab-vip")
    facts = json.loads((lab.state_dir / "seed.json").read_text())
    server = conn.compute.get_server(facts["servers"]["sbs-server"]["id"])
    network = facts["networks"]["sbs-net"]
    subnet = conn.network.get_subnet(network["subnet"])
    port = conn.network.get_port(facts["ports"]["sbs-port"])
    return {"server": {"status": server.status, "flavor": server.flavor.original_name,
                       "image": server.image.id, "host": server.compute_host,
                       "addresses": server.addresses},
            "subnet": {"cidr": subnet.cidr, "network": subnet.network_id},
            "port": {"device": port.device_id, "ips": port.fixed_ips,
                     "host": port.binding_host_id, "vif": port.binding_vif_type}}


def test_the_old_cloud_runs_a_server_on_its_compute_node(cloud: RunningLab) -> None:
    view = vip_view(cloud)
    facts = json.loads((cloud.state_dir / "seed.json").read_text())
    assert view["server"]["status"] == "ACTIVE" and view["server"]["flavor"] == "sbs-tiny"
    assert view["port"]["device"] == facts["servers"]["sbs-server"]["id"]
    assert view["port"]["vif"] == "bridge"  # bound by neutron's ML2 for the compute host
    assert view["subnet"]["cidr"] == "10.77.0.0/24"
    old = consumers_by_side(cloud, "old")
    assert {"conductor", "scheduler", "compute", "q-plugin"} <= set(old)
    assert all(sides == {"old"} for sides in old.values()), old


def test_prepare_keeps_the_new_workers_off_the_old_bus_then_cutover_and_rollback(
        cloud: RunningLab) -> None:
    before = vip_view(cloud)
    prepared = sbs(cloud, "prepare", "--yes", timeout=1500)
    assert prepared.returncode == 0, prepared.stderr[-4000:]

    # the old vhost: only the old side's processes (controllers and the compute node)
    old = consumers_by_side(cloud, "old")
    assert all(sides == {"old"} for sides in old.values()), old
    # the new vhost: the new conductor, scheduler and neutron RPC workers, and nothing old
    new = consumers_by_side(cloud, "new")
    assert {"conductor", "scheduler", "q-plugin"} <= set(new), new
    assert all(sides == {"new"} for sides in new.values()), new
    # the carried configs say so: the new side's transport URL names the new vhost
    nova_conf = (cloud.state_dir / "new" / "etc" / "nova" / "nova.conf").read_text()
    assert broker.vhost(LabLayout(cloud.state_dir), "new") in nova_conf
    assert broker.vhost(LabLayout(cloud.state_dir), "old") not in nova_conf

    cut = sbs(cloud, "cutover", "--yes", timeout=1500)
    assert cut.returncode == 0, cut.stderr[-4000:]
    after_cutover = vip_view(cloud)
    assert after_cutover == before  # the same server, network and port, by content

    rolled = sbs(cloud, "rollback", "--yes", "--accept-data-loss", timeout=900)
    assert rolled.returncode == 0, rolled.stderr[-4000:]
    assert vip_view(cloud) == before


def test_zz_down_leaves_no_process_of_the_lab(cloud: RunningLab) -> None:
    cloud.cli("down", "--json")
    assert not listening(CLOUD_PORTS)
    assert not processes_under(cloud.state_dir)
