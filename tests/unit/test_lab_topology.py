"""The lab's topology: addresses, names, paths and what `lab up` renders for ha3."""

from __future__ import annotations

import configparser
from dataclasses import replace
from pathlib import Path

import pytest

from sidebyside.inventory import parse_inventory
from sidebyside.lab import render
from sidebyside.lab.layout import (
    DB_PORT,
    DEFAULT_TOPOLOGY,
    SIDE_ADDRESS,
    TOPOLOGIES,
    VIP,
    LabLayout,
    Topology,
)
from sidebyside.lab.state import LabState

HA3 = TOPOLOGIES["ha3"]
LAYOUT = LabLayout(Path("/srv/lab"), HA3)
SPEC = render.LabSpec(from_release="2025.1", services=("keystone",), topology=HA3)


def ha_inventory() -> dict[str, object]:
    return render.inventory(LAYOUT, SPEC, python="/usr/bin/python3",
                            db_password_files={"old": Path("/o"), "new": Path("/n")})


def test_the_default_topology_is_the_fixed_lab_of_before() -> None:
    assert DEFAULT_TOPOLOGY.vip == VIP
    for side in ("old", "new"):
        (controller,) = DEFAULT_TOPOLOGY.side_controllers(side)
        assert (controller.name, controller.address, controller.dir) == \
            (f"{side}-ctl1", SIDE_ADDRESS[side], side)
        assert controller.component("keystone") == f"{side}-keystone"
        assert DEFAULT_TOPOLOGY.db_address(side) == SIDE_ADDRESS[side]
    (balancer,) = DEFAULT_TOPOLOGY.balancers
    assert (balancer.name, balancer.component, balancer.dir) == ("lb1", "haproxy", "")
    layout = LabLayout(Path("/srv/lab"))
    assert layout.haproxy_socket == Path("/srv/lab/haproxy.sock")
    assert layout.mariadb_dir("new") == Path("/srv/lab/new/var/lib/mysql")
    assert DEFAULT_TOPOLOGY.db_port == DB_PORT and DEFAULT_TOPOLOGY.port("keystone") == 5000


def test_ha3_lives_on_its_own_addresses_and_ports() -> None:
    assert [b.address for b in HA3.balancers] == ["127.0.2.10", "127.0.2.11"]
    assert [c.address for c in HA3.all_controllers] == [f"127.0.2.{n}" for n in range(12, 18)]
    assert [c.name for c in HA3.side_controllers("new")] == ["new-ctl1", "new-ctl2", "new-ctl3"]
    assert HA3.controller("new", "new-ctl3").component("keystone") == "new-ctl3-keystone"
    assert HA3.db_address("new") == "127.0.2.15" and HA3.db_port == 23306
    assert HA3.port("keystone") == 15000
    assert LAYOUT.haproxy_socket_of(HA3.balancers[1]) == Path("/srv/lab/lb2/haproxy.sock")
    assert LAYOUT.pid_file(HA3.balancers[1].component) == Path("/srv/lab/run/haproxy-lb2.pid")
    assert LAYOUT.mariadb_dir("old") == Path("/srv/lab/old-ctl1/var/lib/mysql")
    ports = {(c.address, HA3.port("keystone")) for c in HA3.all_controllers}
    defaults = {(a, p) for a in (VIP, *SIDE_ADDRESS.values()) for p in (5000, 9292, DB_PORT)}
    assert not ports & defaults


def test_an_unknown_controller_names_the_side_s_ones() -> None:
    with pytest.raises(ValueError, match="new-ctl1, new-ctl2, new-ctl3"):
        HA3.controller("new", "old-ctl1")


@pytest.mark.parametrize(("change", "field"), [
    ({"controllers": 0}, "controllers"), ({"haproxy_nodes": 9}, "haproxy_nodes"),
    ({"address_base": "10.0.0"}, "address_base"), ({"address_base": "127.0"}, "address_base"),
    ({"db_port": 80}, "db_port"), ({"port_offset": 60000}, "port_offset")])
def test_invalid_topologies_name_the_field(change: dict[str, object], field: str) -> None:
    assert [f for f, _ in replace(HA3, **change).problems()] == [field]  # type: ignore[arg-type]
    assert HA3.problems() == [] and DEFAULT_TOPOLOGY.problems() == []


def test_ha3_inventory_lists_every_controller_both_nodes_and_six_servers() -> None:
    inv = parse_inventory(ha_inventory(), "lab")
    assert inv.old.controllers == ["old-ctl1", "old-ctl2", "old-ctl3"]
    assert inv.hosts["new-ctl2"].root == "/srv/lab/new-ctl2"
    assert inv.hosts["new-ctl2"].address == "127.0.2.16"
    assert inv.ha.haproxy is not None
    # each node's socket and state file under its own root, as on real nodes
    assert [(n.host, n.socket) for n in inv.ha.haproxy.nodes] == \
        [("lb1", "/haproxy.sock"), ("lb2", "/haproxy.sock")]
    assert inv.hosts["lb2"].root == "/srv/lab/lb2" and inv.ha.haproxy.state_file == \
        "/haproxy-server-state"
    backend = inv.ha.haproxy.backends["keystone"]
    assert (backend.old, backend.new) == (inv.old.controllers, inv.new.controllers)
    assert (inv.new.database.host, inv.new.database.port) == ("127.0.2.15", 23306)
    # each old controller's address maps to its new counterpart; roots move per host
    assert inv.host_map == {"127.0.2.12": "127.0.2.15", "127.0.2.13": "127.0.2.16",
                            "127.0.2.14": "127.0.2.17"}
    start = inv.new.services["keystone"].start or ""
    assert start.split()[-5:] == ["--side", "new", "--controller", "'{host}'", "keystone"]


def test_every_haproxy_node_binds_its_own_address_and_declares_all_servers() -> None:
    for node in HA3.balancers:
        cfg = render.haproxy_cfg(LAYOUT, ("keystone",), node)
        assert f"bind {node.address}:15000" in cfg
        assert f"stats socket /srv/lab/{node.dir}/haproxy.sock" in cfg
        assert f"pidfile /srv/lab/run/haproxy-{node.dir}.pid" in cfg
        assert cfg.count("    server ") == 6
        assert "server new-ctl3 127.0.2.17:15000 check inter 2s fall 2 rise 1 disabled" in cfg


def test_each_controller_s_keystone_conf_is_under_its_root_on_the_side_s_database() -> None:
    text = render.keystone_conf(LAYOUT, "old", "2025.1", db_password="pw", custom=True,
                                controller="old-ctl3")
    conf = configparser.ConfigParser(interpolation=None)
    conf.read_string(text)
    assert conf["fernet_tokens"]["key_repository"] == "/srv/lab/old-ctl3/etc/keystone/fernet-keys/"
    assert conf["database"]["connection"].endswith("@127.0.2.12:23306/keystone")
    assert "on old-ctl3" in text


def test_clouds_reach_the_vip_and_each_side_s_first_controller() -> None:
    clouds = render.clouds("pw", ("keystone",), HA3)["clouds"]
    assert clouds["lab-vip"]["auth"]["auth_url"] == "http://127.0.2.10:15000/v3"
    assert clouds["lab-new"]["identity_endpoint_override"] == "http://127.0.2.15:15000/v3"


def test_state_round_trip_keeps_the_topology_and_the_default_lab_json() -> None:
    state = LabState(spec=SPEC)
    state.want("new-ctl2", "keystone", True)
    again = LabState.from_json(state.to_json())
    assert again.spec == SPEC and again.wanted["new-ctl2"] == ["keystone"]
    default = LabState(spec=render.LabSpec()).to_json()
    assert "topology" not in default["spec"]  # lab.json of a default lab as before
    assert LabState.from_json(default).spec.topology == Topology()
