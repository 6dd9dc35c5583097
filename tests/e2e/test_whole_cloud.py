"""The whole cloud through prepare, cutover and rollback, then a second cutover, the
compute nodes' rolling upgrade and finalize (`sbs lab up --topology cloud`, on
127.0.3.10-12, beside any default lab).

Both sides run the eight services on their own RabbitMQ vhost: keystone, glance,
placement, nova (API, conductor, scheduler), neutron-server with ML2, cinder (API,
scheduler, volume service on cinder's fake driver), horizon and heat (API, engine). The
old side has two compute nodes (nova's fake virt driver, the one stand-in, shipped by
nova) and a server ACTIVE on one of them, on a port of a seeded network, with a volume
attached to it. One
SLURP hop (2025.1 -> 2026.1): nova 2026.1 refuses computes older than 2025.1, so a
2024.1 compute cannot stay through the cutover (`nova-status upgrade check` says so,
and prepare stops there).

What it proves: after prepare the old side's queues have only old consumers, and the
new workers consume their own vhost; at cutover the compute node follows the new bus
and reports there; the seeded resources are there with the same content through the
VIP after cutover and again after rollback; a server, a volume and a stack made
through the VIP after cutover work on the new control plane with the old-release
compute; rollback refuses to drop them (the services' heartbeats alone do not count),
exports them, and with --accept-data-loss brings the computes back to the old bus.
After a second cutover, `sbs computes upgrade` killed (SIGKILL) in the middle of the
second node resumes with that node only; until it has, finalize refuses naming it and
rollback refuses naming the upgraded nodes; then finalize runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from sidebyside.cloud.compute_services import compute_services
from sidebyside.cloud.dashboard import check_dashboard, credentials_of
from sidebyside.inventory import load_inventory, resolve_password
from sidebyside.lab import broker, seed
from sidebyside.lab.layout import COMPUTE_NODES, TOPOLOGIES, LabLayout
from sidebyside.services.catalog import databases_of
from tests.e2e.conftest import RunningLab, listening, processes_under, topology_lab
from tests.e2e.test_upgrade_flow import sbs

pytestmark = [pytest.mark.e2e, pytest.mark.slow_e2e]
TOPOLOGY = TOPOLOGIES["cloud"]
FROM_RELEASE = "2025.1"
SERVICE_NAMES = ("keystone", "glance", "placement", "nova", "neutron", "cinder", "horizon",
                 "heat")
SERVICES = ",".join(SERVICE_NAMES)
CLOUD_PORTS = [(TOPOLOGY.vip, TOPOLOGY.port(s)) for s in ("keystone", "nova", "neutron",
                                                           "cinder", "heat", "horizon")] + \
    [(TOPOLOGY.db_address(side), TOPOLOGY.db_port) for side in ("old", "new")]
# the services' own background writes (heartbeats, service records): never a refusal
BACKGROUND_TABLES = ("nova.services", "cinder.services", "heat.service",
                     "placement.resource_providers")
# what the user's server, volume and stack wrote: each must refuse the rollback
USER_TABLES = ("nova.instances", "nova_api.instance_mappings", "cinder.volumes",
               "cinder.volume_attachment", "heat.stack", "neutron.ports",
               "placement.allocations")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    yield from topology_lab(tmp_path_factory, "cloud", CLOUD_PORTS, services=SERVICES,
                            from_release=FROM_RELEASE)


def recorded_sides(state_dir: Path) -> dict[int, str]:
    """PID -> side of every process the lab recorded (its PID files: `old-*` and the
    compute nodes' `compute1-*`, `compute2-*` are the old side's, `new-*` the new
    side's)."""
    prefixes = {"old": "old", "new": "new", **{node.dir: "old" for node in COMPUTE_NODES}}
    sides = {}
    for pid_file in LabLayout(state_dir).run_dir.glob("*.pid"):
        side = prefixes.get(pid_file.stem.split("-", 1)[0])
        text = pid_file.read_text().strip()
        if side and text.isdigit():
            sides[int(text)] = side
    return sides


def side_of(state_dir: Path, pid: int | None) -> str:
    """Which side a consumer's process belongs to, by identity: the PID the lab
    recorded for it or for the ancestor that forked it (a service's workers)."""
    recorded = recorded_sides(state_dir)
    while pid:
        if pid in recorded:
            return recorded[pid]
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return "gone"
        pid = int(stat.rsplit(")", 1)[-1].split()[1])
    return "unknown"


def consumers_by_side(lab: RunningLab, side: str) -> dict[str, set[str]]:
    """vhost of `side` -> {side of each consumer's process}, by queue."""
    found: dict[str, set[str]] = {}
    for consumer in broker.consumers(broker.vhost(LabLayout(lab.state_dir), side)):
        of = side_of(lab.state_dir, consumer.pid)
        if of not in ("old", "new"):  # say whose connection it was
            of = f"{of}: {consumer.connection}"
        found.setdefault(consumer.queue, set()).add(of)
    return found


def foreign(consumers: dict[str, set[str]], side: str) -> dict[str, set[str]]:
    """The queues of `consumers` with a consumer not of `side`."""
    return {queue: sides for queue, sides in consumers.items() if sides != {side}}


def vip_view(lab: RunningLab) -> dict[str, Any]:
    """What a user sees through the VIP of the seeded resources, by content: the server,
    its network and port, its volume, the stack."""
    conn = seed.connect(lab.state_dir / "clouds.yaml", "lab-vip")
    facts = json.loads((lab.state_dir / "seed.json").read_text())
    server = conn.compute.get_server(facts["servers"]["sbs-server"]["id"])
    network = facts["networks"]["sbs-net"]
    subnet = conn.network.get_subnet(network["subnet"])
    port = conn.network.get_port(facts["ports"]["sbs-port"])
    volume = conn.block_storage.get_volume(facts["volumes"][seed.VOLUME]["id"])
    stack = conn.orchestration.get_stack(facts["stacks"][seed.STACK]["id"])
    return {"server": {"status": server.status, "flavor": server.flavor.original_name,
                       "image": server.image.id, "host": server.compute_host,
                       "addresses": server.addresses},
            "subnet": {"cidr": subnet.cidr, "network": subnet.network_id},
            "port": {"device": port.device_id, "ips": port.fixed_ips,
                     "host": port.binding_host_id, "vif": port.binding_vif_type},
            "volume": {"size": volume.size, "status": volume.status,
                       "attached": sorted(str(a.get("server_id"))
                                          for a in volume.attachments or [])},
            "stack": {"status": stack.status,
                      "outputs": {o["output_key"]: o["output_value"]
                                  for o in stack.outputs or []}}}


def computes_up(lab: RunningLab) -> dict[str, bool]:
    """Every nova-compute the cloud behind the VIP knows: host -> up."""
    conn = seed.connect(lab.state_dir / "clouds.yaml", "lab-vip")
    return {host: svc.up for host, svc in compute_services(conn).items()}


ALL_UP = {node.nova_host: True for node in COMPUTE_NODES}
# the VIF type neutron's test mechanism driver binds for each compute host
VIF_TYPES = {"host-bridge-filter": "bridge", "host-ovs-no_filter": "ovs"}


def compute_vhosts(lab: RunningLab) -> set[str]:
    """The vhosts the compute nodes' nova.conf name (their transport URLs' paths)."""
    vhosts = set()
    for node in COMPUTE_NODES:
        conf = (lab.state_dir / node.dir / "etc" / "nova" / "nova.conf").read_text()
        url = next(line for line in conf.splitlines() if line.startswith("transport_url"))
        vhosts.add(url.rsplit("/", 1)[1].strip())
    return vhosts


def compute_releases(lab: RunningLab) -> dict[str, str]:
    """node -> the release the lab says its nova-compute runs."""
    state = json.loads((lab.state_dir / "lab.json").read_text())
    return {node.dir: state.get("compute_releases", {}).get(node.dir, FROM_RELEASE)
            for node in COMPUTE_NODES}


def old_checksums(lab: RunningLab) -> dict[str, int]:
    """CHECKSUM TABLE of every table of the old side's databases."""
    ref = load_inventory(lab.state_dir / "sbs.yaml").side("old").database
    conn = pymysql.connect(host=ref.host, port=ref.port, user=ref.user,
                           password=resolve_password(ref) or "")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT CONCAT('`', TABLE_SCHEMA, '`.`', TABLE_NAME, '`') FROM "
                        "information_schema.TABLES WHERE TABLE_TYPE='BASE TABLE' AND "
                        "TABLE_SCHEMA IN %s", (databases_of(list(SERVICE_NAMES)),))
            tables = [row[0] for row in cur.fetchall()]
            cur.execute("CHECKSUM TABLE " + ", ".join(tables) + " EXTENDED")
            return {row[0]: row[1] for row in cur.fetchall()}
    finally:
        conn.close()


def dashboard_login(lab: RunningLab) -> list[tuple[str, str, str]]:
    """The dashboard through the VIP: its login page and a real login."""
    import yaml

    clouds = yaml.safe_load((lab.state_dir / "clouds.yaml").read_text())
    inventory = load_inventory(lab.state_dir / "sbs.yaml")
    checks = check_dashboard(str(inventory.ha.dashboard_url),
                             credentials_of(clouds["clouds"]["lab-vip"]["auth"]))
    return [(c.name, c.status, c.detail) for c in checks]


def test_the_old_cloud_runs_a_server_on_its_compute_node(cloud: RunningLab) -> None:
    view = vip_view(cloud)
    facts = json.loads((cloud.state_dir / "seed.json").read_text())
    server_id = facts["servers"]["sbs-server"]["id"]
    assert view["server"]["status"] == "ACTIVE" and view["server"]["flavor"] == "sbs-tiny"
    assert view["port"]["device"] == server_id
    assert view["server"]["host"] in VIF_TYPES
    # bound by neutron's ML2 for the compute host
    assert view["port"]["vif"] == VIF_TYPES[view["server"]["host"]]
    assert view["subnet"]["cidr"] == "10.77.0.0/24"
    assert view["volume"] == {"size": 1, "status": "in-use", "attached": [server_id]}
    assert view["stack"] == {"status": "CREATE_COMPLETE",
                             "outputs": {"marker": seed.STACK_OUTPUT}}
    old = consumers_by_side(cloud, "old")
    assert {"conductor", "scheduler", "compute", "q-plugin", "cinder-scheduler",
            "cinder-volume", "engine"} <= set(old)
    assert {f"compute.{node.nova_host}" for node in COMPUTE_NODES} <= set(old)
    assert not foreign(old, "old")
    assert computes_up(cloud) == ALL_UP
    assert all(status == "pass" for _, status, _ in dashboard_login(cloud))


def test_prepare_cutover_rollback_of_the_whole_cloud(cloud: RunningLab) -> None:
    before = vip_view(cloud)
    layout = LabLayout(cloud.state_dir)
    old_vhost, new_vhost = broker.vhost(layout, "old"), broker.vhost(layout, "new")
    prepared = sbs(cloud, "prepare", "--yes", timeout=1800)
    assert prepared.returncode == 0, prepared.stderr[-4000:]

    # the old vhost: only the old side's processes (controllers and the compute node)
    old = consumers_by_side(cloud, "old")
    assert not foreign(old, "old")
    # the new vhost: the new side's RPC workers of every service, and nothing old
    new = consumers_by_side(cloud, "new")
    assert {"conductor", "scheduler", "q-plugin", "cinder-scheduler", "cinder-volume",
            "engine"} <= set(new), new
    assert "compute" not in new  # the compute node stays on the old bus until cutover
    assert not foreign(new, "new")
    # the carried configs say so: the new side's transport URL names the new vhost
    nova_conf = (cloud.state_dir / "new" / "etc" / "nova" / "nova.conf").read_text()
    assert new_vhost in nova_conf and old_vhost not in nova_conf

    cut = sbs(cloud, "cutover", "--yes", timeout=1800)
    assert cut.returncode == 0, cut.stderr[-4000:]
    assert vip_view(cloud) == before  # the same server, network, port, volume, stack
    # the old-release compute nodes follow the new bus and report to the new side
    assert compute_vhosts(cloud) == {new_vhost}
    assert computes_up(cloud) == ALL_UP
    assert "compute" in consumers_by_side(cloud, "new")
    assert all(status == "pass" for _, status, _ in dashboard_login(cloud)), \
        dashboard_login(cloud)
    verified = sbs(cloud, "verify", "--side", "vip", "--json")
    assert verified.returncode == 0, verified.stdout[-4000:]
    checks = json.loads(verified.stdout)["smoke"]["checks"]
    assert {c["service"] for c in checks if c["status"] == "pass"} >= set(SERVICE_NAMES)
    assert not [c for c in checks if c["status"] != "pass"]
    old_at_cutover = old_checksums(cloud)  # old services stopped: nothing may write it

    # a user's server, volume and stack through the VIP, on the new control plane with
    # the old-release compute node
    conn = seed.connect(cloud.state_dir / "clouds.yaml", "lab-vip")
    facts = json.loads((cloud.state_dir / "seed.json").read_text())
    made = seed.user_workload(conn, network_id=facts["networks"]["sbs-net"]["id"],
                              prefix="after-cutover")
    server = made["servers"]["after-cutover-server"]
    assert server["status"] == "ACTIVE" and server["host"] in ALL_UP  # an old-release one
    assert list(server["addresses"]) == ["sbs-net"]
    volume = made["volumes"]["after-cutover-volume"]
    assert (volume["status"], volume["server"]) == ("in-use", server["id"])
    assert made["stacks"]["after-cutover-stack"]["status"] == "CREATE_COMPLETE"
    assert old_checksums(cloud) == old_at_cutover  # none of it reached the old side

    refused = sbs(cloud, "rollback", "--yes", timeout=900)
    assert refused.returncode == 10, refused.stderr[-4000:]
    refusal = refused.stderr.rsplit("\nerror:", 1)[-1]
    for table in USER_TABLES:
        assert f"{table}:" in refusal, (table, refusal)
    for table in BACKGROUND_TABLES:  # logged as the services' own writes, not refused
        assert f"{table}:" not in refusal, (table, refusal)
    said = " ".join((refused.stdout + refused.stderr).split())
    assert "background writes of the new side's services" in said
    assert "nova.services updated_at" in said
    exports = list((cloud.state_dir / "flow-state" / "rollback-exports").glob(
        "*/manifest.json"))
    assert exports
    assert computes_up(cloud) == ALL_UP  # nothing switched
    assert compute_vhosts(cloud) == {new_vhost}

    rolled = sbs(cloud, "rollback", "--yes", "--accept-data-loss", timeout=900)
    assert rolled.returncode == 0, rolled.stderr[-4000:]
    assert vip_view(cloud) == before
    assert compute_vhosts(cloud) == {old_vhost}
    assert computes_up(cloud) == ALL_UP
    conn = seed.connect(cloud.state_dir / "clouds.yaml", "lab-vip")
    assert conn.compute.find_server("after-cutover-server") is None  # the old cloud's view
    assert all(status == "pass" for _, status, _ in dashboard_login(cloud))


def sbs_killed_when(lab: RunningLab, args: list[str], ready: Any,
                    timeout: float = 1200) -> str:
    """Run sbs with `args` in its own process group and SIGKILL the group (sbs and the
    automation it runs) once `ready()` holds; its stderr so far. Fails when it ends
    first."""
    with open(lab.state_dir / "killed-run.log", "w+b") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sidebyside", *args, "-i", str(lab.state_dir / "sbs.yaml"),
             "--state-dir", str(lab.state_dir / "flow-state")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
            start_new_session=True, env={**os.environ, "COLUMNS": "200"})
        deadline = time.monotonic() + timeout
        try:
            while not ready():
                assert proc.poll() is None, ("it ended before the kill",
                                             log.seek(0) or log.read().decode()[-3000:])
                assert time.monotonic() < deadline, "not ready in time"
                time.sleep(0.5)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.seek(0)
        return log.read().decode()


def test_computes_upgrade_killed_on_the_second_node_resumes_it_then_finalize(
        cloud: RunningLab) -> None:
    layout = LabLayout(cloud.state_dir)
    cut = sbs(cloud, "cutover", "--yes", timeout=1800)  # again, after the rollback
    assert cut.returncode == 0, cut.stderr[-4000:]
    before = vip_view(cloud)
    old_at_cutover = old_checksums(cloud)
    plan = sbs(cloud, "plan", "computes")
    assert plan.returncode == 0 and "Upgrade the compute nodes (compute1, compute2)" in \
        " ".join(plan.stdout.split()), plan.stdout
    first, second = COMPUTE_NODES

    def second_node_stopped() -> bool:  # sbs disabled and stopped it: mid-node
        return compute_releases(cloud)[first.dir] == "2026.1" and \
            not layout.pid_file(second.component).exists()

    said = " ".join(sbs_killed_when(
        cloud, ["computes", "upgrade", "--yes", "--batch-size", "1"],
        second_node_stopped).split())
    assert f"{first.dir}: nova-compute up at service version 72 (2026.1)" in said, said
    assert compute_releases(cloud)[first.dir] == "2026.1"

    # one old compute left: finalize refuses naming it; rollback refuses naming both
    refused = sbs(cloud, "finalize", "--yes")
    assert refused.returncode == 3, refused.stderr[-3000:]
    error = " ".join(refused.stderr.split())
    assert f"nova-compute on {second.nova_host} (service version 68, 2025.1)" in error, error
    assert first.nova_host not in error
    back = sbs(cloud, "rollback", "--yes", "--accept-data-loss")
    assert back.returncode == 3, back.stderr[-3000:]
    assert f"{first.dir} (2026.1), {second.dir} (2026.1)" in " ".join(back.stderr.split())

    resumed = sbs(cloud, "computes", "upgrade", "--yes", timeout=1200)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    log = " ".join(resumed.stderr.split())
    assert f"{first.dir}: already done in an earlier attempt" in log, log
    assert f"{first.dir}: nova-compute disabled" not in log  # not done again
    assert f"{second.dir}: nova-compute up at service version 72 (2026.1)" in log
    assert compute_releases(cloud) == {node.dir: "2026.1" for node in COMPUTE_NODES}
    assert computes_up(cloud) == ALL_UP
    assert vip_view(cloud) == before  # the server and its volume as they were

    finalized = sbs(cloud, "finalize", "--yes", timeout=1200)
    assert finalized.returncode == 0, finalized.stderr[-4000:]
    assert "run 2026.1" in " ".join(finalized.stderr.split())
    assert vip_view(cloud) == before
    assert old_checksums(cloud) == old_at_cutover  # the old side still untouched


def test_zz_down_leaves_no_process_of_the_lab(cloud: RunningLab) -> None:
    cloud.cli("down", "--json")
    assert not listening(CLOUD_PORTS)
    assert not processes_under(cloud.state_dir)
