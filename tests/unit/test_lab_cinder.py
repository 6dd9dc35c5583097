"""The lab's cinder: its config, its processes and what nova needs to attach (pure)."""

from __future__ import annotations

import configparser
from pathlib import Path

from sidebyside.inventory import parse_inventory
from sidebyside.lab import lockfiles, render
from sidebyside.lab.layout import COMPUTE_NODES, TOPOLOGIES, LabLayout
from sidebyside.lab.programs import service_programs
from sidebyside.lab.releases import LOCKED_RELEASES

LAYOUT = LabLayout(Path("/srv/lab"))
CLOUD = LabLayout(Path("/srv/cloud"), TOPOLOGIES["cloud"])
SERVICES = ("keystone", "glance", "placement", "nova", "neutron", "cinder")


def ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


def cinder_conf(side: str, release_name: str, layout: LabLayout = LAYOUT) -> str:
    return render.service_conf(layout, "cinder", side, release_name, db_password="dbpw",
                               service_password="svcpw",
                               transport=render.transport_url(layout, side, "rabbitpw"))


def test_cinder_conf_has_its_database_bus_and_fake_backend() -> None:
    text = cinder_conf("old", "2025.1")
    conf = ini(text)
    assert conf["database"]["connection"] == \
        "mysql+pymysql://cinder:dbpw@127.0.0.11:13306/cinder"
    assert conf["DEFAULT"]["transport_url"] == render.transport_url(LAYOUT, "old", "rabbitpw")
    assert conf["DEFAULT"]["enabled_backends"] == render.VOLUME_BACKEND
    backend = conf[render.VOLUME_BACKEND]
    assert backend["volume_driver"] == "cinder.tests.fake_driver.FakeLoggingVolumeDriver"
    assert backend["backend_host"] == render.VOLUME_HOST
    assert conf["keystone_authtoken"]["username"] == "cinder"
    assert conf["keystone_authtoken"]["auth_url"] == "http://127.0.0.10:5000/v3"
    assert conf["DEFAULT"]["api_paste_config"] == "/srv/lab/old/etc/cinder/api-paste.ini"
    assert conf["DEFAULT"]["state_path"] == "/srv/lab/old/var/lib/cinder"
    assert "svcpw" in text and "2025.1 (epoxy)" in text


def test_both_sides_name_the_same_volume_host_on_their_own_bus() -> None:
    old, new = ini(cinder_conf("old", "2025.1", CLOUD)), ini(cinder_conf("new", "2026.1", CLOUD))
    # a volume's host `<backend_host>@<backend>#<pool>` is the same on both sides
    assert old[render.VOLUME_BACKEND]["backend_host"] == \
        new[render.VOLUME_BACKEND]["backend_host"] == render.VOLUME_HOST
    assert old["DEFAULT"]["transport_url"] != new["DEFAULT"]["transport_url"]
    assert "@127.0.3.12:33306/cinder" in new["database"]["connection"]


def test_nova_gets_a_cinder_section_only_beside_cinder() -> None:
    def nova(cinder: bool) -> configparser.ConfigParser:
        return ini(render.nova_conf(LAYOUT, "old", "2025.1", db_password="n",
                                    transport="rabbit://u:p@127.0.0.1:5672/v", served=True,
                                    service_password="svc", cinder=cinder))

    with_cinder = nova(True)
    assert with_cinder["cinder"]["catalog_info"] == "volumev3::publicURL"
    assert with_cinder["cinder"]["os_region_name"] == "RegionOne"
    assert with_cinder["cinder"]["username"] == "nova"
    assert not nova(False).has_section("cinder")
    node = COMPUTE_NODES[0]
    compute = ini(render.nova_compute_conf(LAYOUT, node, "2025.1", transport="rabbit://x",
                                           service_password="svc", cinder=True))
    assert compute["cinder"]["catalog_info"] == "volumev3::publicURL"
    assert not ini(render.nova_compute_conf(LAYOUT, node, "2025.1", transport="rabbit://x",
                                            service_password="svc")).has_section("cinder")


def test_cinder_runs_its_api_in_our_wsgi_server_and_two_workers() -> None:
    venv, etc = Path("/v/cinder-2025.1"), Path("/srv/lab/old/etc/cinder")
    api, scheduler, volume = service_programs(
        "cinder", venv=venv, etc=etc, address="127.0.0.11", port=8776,
        pid_file=lambda suffix: Path(f"/srv/lab/run/old-cinder{suffix}.pid"),
        health_path=render.HEALTH_PATH["cinder"], has=lambda _: True)
    assert api.health_path == "/healthcheck" and api.queue is None
    assert api.argv[0] == "/v/cinder-2025.1/bin/python"
    assert api.argv[1].endswith("sidebyside/lab/wsgi_server.py")
    assert ("--app", "cinder.wsgi.api:application") == api.argv[
        api.argv.index("--app"):api.argv.index("--app") + 2]
    # cinder's WSGI application parses its config from its command line
    assert "--app-arg=--config-file" in api.argv
    assert f"--app-arg={etc}/cinder.conf" in api.argv
    assert (scheduler.suffix, scheduler.queue) == ("scheduler", "cinder-scheduler")
    assert (volume.suffix, volume.queue) == ("volume", "cinder-volume")
    assert scheduler.argv == ("/v/cinder-2025.1/bin/cinder-scheduler", "--config-file",
                              f"{etc}/cinder.conf")
    assert volume.argv[0] == "/v/cinder-2025.1/bin/cinder-volume"


def test_a_cloud_with_cinder_serves_it_behind_haproxy_and_in_the_inventory() -> None:
    spec = render.LabSpec(from_release="2025.1", services=SERVICES,
                          topology=TOPOLOGIES["cloud"])
    assert "cinder" in spec.served and spec.uses_broker
    assert render.LabSpec(services=("keystone", "cinder")).uses_broker
    cfg = render.haproxy_cfg(CLOUD, spec.services, served=spec.served)
    assert "bind 127.0.3.10:28776" in cfg
    assert "server old-ctl1 127.0.3.11:28776 check inter 2s fall 2 rise 1\n" in cfg
    assert "/healthcheck" in cfg
    inv = parse_inventory(render.inventory(
        CLOUD, spec, python="/usr/bin/python3",
        db_password_files={"old": Path("/o"), "new": Path("/n")}), "lab")
    assert inv.new.services["cinder"].api and inv.ha.haproxy is not None
    assert inv.ha.haproxy.backends["cinder"].backend == "cinder_api"
    assert (inv.new.services["cinder"].start or "").split()[-1] == "cinder"
    assert render.vip_url(CLOUD.topology, "cinder") == "http://127.0.3.10:28776/v3/%(project_id)s"
    clouds = render.clouds("pw", spec.served, CLOUD.topology)["clouds"]
    # openstacksdk discovers versions at an override without filling in a project id
    assert clouds["lab-new"]["block_storage_endpoint_override"] == "http://127.0.3.12:28776/v3"
    assert "block_storage_endpoint_override" not in clouds["lab-vip"]


def test_every_cinder_lock_carries_what_its_fake_driver_imports() -> None:
    # cinder/tests/fake_driver.py imports cinder.tests.unit, which imports `fixtures`
    for release_name in LOCKED_RELEASES:
        assert "fixtures" in lockfiles.lock_pins(lockfiles.read_lock("cinder", release_name))
