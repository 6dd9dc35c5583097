"""The lab's compute nodes: two of them, each its own host in the sbs inventory (its
own root, its own nova host that neutron's test driver binds), moved by the inventory's
commands with `--node`, upgraded by the lab's compute playbook; and the state that says
which release each runs."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest
import yaml

from sidebyside.errors import InputError
from sidebyside.inventory import parse_inventory
from sidebyside.lab import render
from sidebyside.lab.deploy_adapter import (
    LAB_COMPUTE_PLAYBOOK,
    LabAnsibleHost,
    render_lab_inventory,
)
from sidebyside.lab.layout import COMPUTE_NODES, TOPOLOGIES, LabLayout, compute_node
from sidebyside.lab.state import LabState

CLOUD = LabLayout(Path("/srv/cloud"), TOPOLOGIES["cloud"])
SERVICES = ("keystone", "glance", "placement", "nova", "neutron", "cinder", "heat", "horizon")
SPEC = render.LabSpec(from_release="2025.1", services=SERVICES, topology=TOPOLOGIES["cloud"])
UPGRADE = {"ansible": {"playbook": str(LAB_COMPUTE_PLAYBOOK),
                       "inventory": "/srv/cloud/ansible-computes.yml",
                       "extra_vars": {"sbs_lab_state_dir": "/srv/cloud"}}}


def test_two_nodes_each_a_host_of_its_own_that_neutron_binds_ports_for() -> None:
    assert [n.dir for n in COMPUTE_NODES] == ["compute1", "compute2"]
    assert {n.nova_host for n in COMPUTE_NODES} == {"host-bridge-filter",
                                                     "host-ovs-no_filter"}
    for node in COMPUTE_NODES:
        conf = configparser.ConfigParser(interpolation=None)
        conf.read_string(render.nova_compute_conf(CLOUD, node, "2025.1",
                                                  transport="rabbit://x",
                                                  service_password="svc"))
        assert conf["DEFAULT"]["host"] == node.nova_host
        assert conf["DEFAULT"]["compute_driver"].startswith("fake.FakeDriver")
        assert conf["DEFAULT"]["state_path"].startswith(f"/srv/cloud/{node.dir}/")


def test_the_inventory_names_both_nodes_their_commands_and_the_upgrade_playbook() -> None:
    data = render.inventory(CLOUD, SPEC, python="/usr/bin/python3",
                            db_password_files={"old": Path("/o"), "new": Path("/n")},
                            compute_upgrade=UPGRADE)
    inv = parse_inventory(data, "lab")
    assert inv.computes is not None and list(inv.computes.nodes) == ["compute1", "compute2"]
    for node in COMPUTE_NODES:
        assert inv.computes.nova_host(node.dir) == node.nova_host
        assert inv.hosts[node.dir].root == f"/srv/cloud/{node.dir}"
        start = shlex.split(inv.computes.nodes[node.dir].services["nova-compute"].start or "")
        assert start[start.index("--node") + 1] == node.dir
    assert inv.computes.upgrade is not None and inv.computes.upgrade.ansible is not None
    assert inv.computes.upgrade.ansible.playbook == str(LAB_COMPUTE_PLAYBOOK)
    without = render.inventory(CLOUD, SPEC, python="/usr/bin/python3",
                               db_password_files={"old": Path("/o"), "new": Path("/n")})
    assert "upgrade" not in without["computes"]


def test_the_compute_playbooks_inventory_holds_the_nodes_in_their_group() -> None:
    text = render_lab_inventory([LabAnsibleHost(name=n.dir, address="127.0.3.11",
                                                root=f"/srv/cloud/{n.dir}")
                                 for n in COMPUTE_NODES], group="computes")
    hosts = yaml.safe_load(text)["all"]["children"]["computes"]["hosts"]
    assert hosts["compute2"] == {"ansible_host": "127.0.3.11", "ansible_connection": "local",
                                 "sbs_root": "/srv/cloud/compute2"}
    play = yaml.safe_load(LAB_COMPUTE_PLAYBOOK.read_text())[0]
    argv = play["tasks"][1]["ansible.builtin.command"]["argv"]
    assert argv[2:6] == ["sidebyside.cli.lab", "compute", "upgrade", "--node"]


def test_a_node_runs_the_old_release_until_the_state_says_otherwise() -> None:
    state = LabState(spec=SPEC, venvs={"nova": {"2025.1": "/v/a", "2026.1": "/v/b"}})
    assert state.compute_release("compute2") == "2025.1"
    state.compute_releases["compute2"] = "2026.1"
    again = LabState.from_json(state.to_json())
    assert (again.compute_release("compute1"), again.compute_release("compute2")) == (
        "2025.1", "2026.1")


def test_an_unknown_node_is_refused_by_name() -> None:
    with pytest.raises(InputError, match="no compute node 'compute3'.*compute1, compute2"):
        compute_node("compute3")
