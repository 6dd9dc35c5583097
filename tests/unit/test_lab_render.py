"""What `lab up` writes: configs, haproxy.cfg, inventory, clouds.yaml (pure rendering)."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from sidebyside.inventory import parse_inventory
from sidebyside.lab import render
from sidebyside.lab.layout import LabLayout
from sidebyside.lab.state import LabState

LAYOUT = LabLayout(Path("/srv/lab"))


def ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser


def test_old_keystone_conf_carries_the_custom_settings() -> None:
    conf = ini(render.keystone_conf(LAYOUT, "old", "2024.1", db_password="pw1234",
                                    custom=True))
    assert conf["token"]["expiration"] == str(render.TOKEN_EXPIRATION) != "3600"
    assert conf["assignment"]["list_limit"] == str(render.LIST_LIMIT)  # deprecated name
    assert conf["oslo_policy"]["policy_file"] == "policy.yaml"
    assert conf["database"]["connection"] == \
        "mysql+pymysql://keystone:pw1234@127.0.0.11:13306/keystone"
    repo = "/srv/lab/old/etc/keystone/fernet-keys/"
    # receipts default to /etc/keystone/fernet-keys: both must point into the root
    assert conf["fernet_tokens"]["key_repository"] == repo
    assert conf["fernet_receipts"]["key_repository"] == repo
    assert conf["credential"]["key_repository"] == "/srv/lab/old/etc/keystone/credential-keys/"


def test_new_keystone_conf_is_a_plain_deployment_on_the_new_server() -> None:
    text = render.keystone_conf(LAYOUT, "new", "2026.1", db_password="pw1234", custom=False)
    conf = ini(text)
    assert "expiration" not in conf["token"]
    assert not conf.has_section("assignment") and not conf.has_section("oslo_policy")
    assert "@127.0.0.12:13306/keystone" in conf["database"]["connection"]
    assert "/srv/lab/new/etc/keystone" in conf["fernet_tokens"]["key_repository"]
    assert "2026.1 (gazpacho)" in text


def test_glance_conf_binds_the_side_and_authenticates_through_the_vip() -> None:
    conf = ini(render.glance_conf(LAYOUT, "old", "2024.1", db_password="dbpw",
                                  service_password="svcpw"))
    assert (conf["DEFAULT"]["bind_host"], conf["DEFAULT"]["bind_port"]) == ("127.0.0.11", "9292")
    assert conf["keystone_authtoken"]["auth_url"] == "http://127.0.0.10:5000"
    assert conf["keystone_authtoken"]["password"] == "svcpw"
    # one store for both sides: glance records image locations as literal file:// URLs
    assert conf["file"]["filesystem_store_datadir"] == "/srv/lab/shared/glance/images/"
    new = ini(render.glance_conf(LAYOUT, "new", "2026.1", db_password="dbpw",
                                 service_password="svcpw"))
    assert new["file"]["filesystem_store_datadir"] == conf["file"]["filesystem_store_datadir"]
    assert new["os_glance_staging_store"]["filesystem_store_datadir"] == \
        "/srv/lab/new/var/lib/glance/staging/"


def test_nova_conf_names_the_old_databases_literally() -> None:
    transport = render.transport_url(LAYOUT, "old", "rabbitpw")
    conf = ini(render.nova_conf(LAYOUT, "old", "2024.1", db_password="novapw",
                                transport=transport))
    assert conf["api_database"]["connection"].endswith("@127.0.0.11:13306/nova_api")
    assert conf["DEFAULT"]["transport_url"] == transport
    assert "keystone_authtoken" not in conf  # database-only: no API settings


def test_each_side_has_its_own_vhost_on_the_broker() -> None:
    old, new = (render.transport_url(LAYOUT, side, "pw") for side in ("old", "new"))
    assert old.startswith("rabbit://sbs-lab-") and old.endswith("-old")
    assert new == old.removesuffix("-old") + "-new"
    other = LabLayout(Path("/srv/other-lab"))
    assert render.transport_url(other, "old", "pw") != old  # two labs never share


def test_served_nova_has_its_api_and_workers_settings() -> None:
    conf = ini(render.nova_conf(LAYOUT, "new", "2026.1", db_password="novapw",
                                transport="rabbit://u:p@127.0.0.1:5672/v", served=True,
                                service_password="svc"))
    assert conf["keystone_authtoken"]["auth_url"] == "http://127.0.0.10:5000/v3"
    assert conf["placement"]["username"] == "nova"
    assert conf["upgrade_levels"]["compute"] == "auto"
    assert conf["wsgi"]["api_paste_config"] == "/srv/lab/new/etc/nova/api-paste.ini"


def test_served_services_need_nova_beside_placement_and_neutron() -> None:
    assert "nova" not in render.LabSpec(services=("keystone", "glance", "nova")).served
    cloud = render.LabSpec(services=("keystone", "glance", "placement", "nova", "neutron"))
    assert cloud.served == cloud.services and cloud.has_compute and cloud.uses_broker
    assert not render.LabSpec(services=("keystone",)).uses_broker


def test_haproxy_declares_both_sides_new_disabled_and_the_admin_socket() -> None:
    cfg = render.haproxy_cfg(LAYOUT, ("keystone", "glance", "nova"),
                             served=("keystone", "glance"))
    assert "stats socket /srv/lab/haproxy.sock mode 600 level admin expose-fd listeners" in cfg
    assert "server-state-file /srv/lab/haproxy-server-state" in cfg
    assert "load-server-state-from-file global" in cfg
    assert "bind 127.0.0.10:5000" in cfg and "bind 127.0.0.10:9292" in cfg
    assert "server old-ctl1 127.0.0.11:5000 check inter 2s fall 2 rise 1\n" in cfg
    assert "server new-ctl1 127.0.0.12:5000 check inter 2s fall 2 rise 1 disabled\n" in cfg
    # database-only nova: declared, never health-checked
    assert "server new-ctl1 127.0.0.12:8774 disabled\n" in cfg
    assert "pidfile /srv/lab/run/haproxy.pid" in cfg


@pytest.mark.parametrize("via", [(), ("2025.1",)])
def test_inventory_is_valid_for_the_sbs_schema(via: tuple[str, ...]) -> None:
    spec = render.LabSpec(from_release="2025.1" if not via else "2024.1", via=via)
    data = render.inventory(LAYOUT, spec, python="/usr/bin/python3",
                            db_password_files={"old": Path("/srv/lab/old/pw"),
                                               "new": Path("/srv/lab/new/pw")})
    inv = parse_inventory(data, "lab")
    assert inv.release.via == list(via)
    assert inv.hosts["old-ctl1"].root == "/srv/lab/old"
    assert inv.hosts["new-ctl1"].transport == "local"
    assert inv.new.database.port == 13306 and inv.new.database.host == "127.0.0.12"
    assert inv.old.database.password_file == "/srv/lab/old/pw"
    assert inv.ha.haproxy is not None
    assert inv.ha.haproxy.nodes[0].socket == "/srv/lab/haproxy.sock"
    assert inv.ha.haproxy.backends["glance"].backend == "glance_api"
    start = inv.new.services["keystone"].start or ""
    assert start.split()[-5:] == ["--state-dir", "/srv/lab", "--side", "new", "keystone"]
    assert inv.host_map["/srv/lab/old/"] == "/srv/lab/new/"
    assert "password" not in str(data).replace("password_file", "").replace(
        "rabbit.password", "")
    assert not inv.new.services["nova"].api and inv.new.services["keystone"].api
    assert inv.old.broker is not None and inv.new.broker is not None
    assert inv.old.broker.vhost != inv.new.broker.vhost
    # each intermediate release's db_sync runs with that release's code
    new_keystone = inv.new.services["keystone"]
    assert new_keystone.bin_dir_for("2026.1") == "/srv/lab/new/opt/openstack/keystone-2026.1/bin"
    assert set(new_keystone.release_bin_dirs) == {*via, "2026.1"}
    assert inv.old.services["glance"].release_bin_dirs == {
        spec.from_release: f"/srv/lab/old/opt/openstack/glance-{spec.from_release}/bin"}
    assert inv.old.services["glance"].bin_dir == "/srv/lab/old/usr/bin"


def test_inventory_carries_the_deploy_block_when_given() -> None:
    deploy = {"ansible": {"playbook": "/p/new-controller.yml", "inventory": "/srv/lab/a.yml",
                          "limit": "new", "extra_vars": {"sbs_python": "/usr/bin/python3"}}}
    data = render.inventory(LAYOUT, render.LabSpec(from_release="2025.1"),
                            python="/usr/bin/python3",
                            db_password_files={"old": Path("/o"), "new": Path("/n")},
                            deploy=deploy)
    inv = parse_inventory(data, "lab")
    assert inv.deploy is not None and inv.deploy.ansible is not None
    assert inv.deploy.ansible.limit == "new"


def test_clouds_have_vip_old_and_new_and_direct_endpoints() -> None:
    clouds = render.clouds("s3cret-admin", ("keystone", "glance"))["clouds"]
    assert set(clouds) == {"lab-vip", "lab-old", "lab-new"}
    assert clouds["lab-vip"]["auth"]["auth_url"] == "http://127.0.0.10:5000/v3"
    assert "image_endpoint_override" not in clouds["lab-vip"]
    assert clouds["lab-new"]["image_endpoint_override"] == "http://127.0.0.12:9292"
    assert clouds["lab-old"]["identity_endpoint_override"] == "http://127.0.0.11:5000/v3"


def test_spec_releases_and_state_round_trip() -> None:
    spec = render.LabSpec(from_release="2024.1", to_release="2026.1", via=("2025.1",),
                          services=("keystone", "glance"))
    assert spec.releases == ("2024.1", "2025.1", "2026.1")
    assert spec.side_release("new") == "2026.1"
    state = LabState(spec=spec, venvs={"keystone": {"2024.1": "/v/k"}}, done=["x"])
    state.want("new", "keystone", True)
    again = LabState.from_json(state.to_json())
    assert again.spec == spec and again.wanted["new"] == ["keystone"]
    assert again.venv("keystone", "2024.1") == Path("/v/k")
