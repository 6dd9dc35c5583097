"""Parsing the runtime API's answers and turning refusals into named errors."""

from __future__ import annotations

import pytest

from sidebyside.traffic.errors import HaproxyCommandRejected
from sidebyside.traffic.haproxy import (
    HaproxyNode,
    check_name,
    parse_servers_state,
    parse_stat_csv,
)

STATE = "\n".join([
    "1",
    "# " + " ".join([
        "be_id", "be_name", "srv_id", "srv_name", "srv_addr", "srv_op_state",
        "srv_admin_state", "srv_uweight", "srv_iweight", "srv_time_since_last_change",
        "srv_check_status", "srv_check_result", "srv_check_health", "srv_check_state",
        "srv_agent_state", "bk_f_forced_id", "srv_f_forced_id", "srv_fqdn", "srv_port",
        "srvrecord", "srv_use_ssl", "srv_check_port", "srv_check_addr", "srv_agent_addr",
        "srv_agent_port"]),
    "3 b 1 old 127.0.0.77 0 1 1 1 1 8 2 0 14 0 0 0 - 18081 - 0 0 - - 0",
    "3 b 2 new 127.0.0.77 2 4 1 1 0 1 0 2 6 0 0 0 - 18082 - 0 0 - - 0",
    "3 b 3 dr 127.0.0.77 2 8 50 1 9 1 0 4 0 0 0 0 - 18083 - 0 0 - - 0",
    "3 b 4 cfgoff 127.0.0.77 0 5 1 1 9 1 0 4 0 0 0 0 - 18084 - 0 0 - - 0",
    "",
    "",
])

STAT = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,"
    "wretr,wredis,status,weight,act,-,\n"
    "f,FRONTEND,,,0,1,512,3,0,0,0,0,0,,,,,OPEN,,,,\n"
    "b,old,0,0,2,3,,9,0,0,,0,,0,0,0,0,DRAIN,1,1,,\n"
    "b,new,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,1,1,,\n"
    "b,BACKEND,0,0,2,3,51,9,0,0,0,0,,0,0,0,0,UP,1,1,,\n"
)


class Scripted:
    """A channel answering from a dict: the socket is an injected effect."""

    description = "scripted socket"

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.sent: list[str] = []

    def send(self, command: str, *, timeout: float) -> str:
        self.sent.append(command)
        return self.answers.get(command, "")


def test_servers_state_admin_labels() -> None:
    states = {s.server: s for s in parse_servers_state(STATE)}
    assert states["old"].admin == "maint"
    assert states["new"].admin == "ready"        # `disabled` in the cfg, then `ready`
    assert states["dr"].admin == "drain"
    assert states["cfgoff"].admin == "maint"     # still disabled by the cfg
    assert states["new"].operational == "running"
    assert states["old"].health_checked and not states["dr"].health_checked
    assert states["dr"].user_weight == 50 and states["old"].port == 18081


@pytest.mark.parametrize("text", ["", "2\n# be_id\n", "1\n3 b 1 old\n",
                                  "1\n# be_id be_name\nx y\n"])
def test_servers_state_rejects_other_formats(text: str) -> None:
    with pytest.raises(ValueError):
        parse_servers_state(text)


def test_stat_csv() -> None:
    rows = {(r.proxy, r.name): r for r in parse_stat_csv(STAT)}
    assert rows[("b", "old")].scur == 2 and rows[("b", "old")].status == "DRAIN"
    assert rows[("b", "new")].weight == 1
    assert rows[("f", "FRONTEND")].weight is None
    with pytest.raises(ValueError):
        parse_stat_csv("Unknown command.\n")


@pytest.mark.parametrize("bad", ["a;b", "a b", "a/b", "", "x\nshow"])
def test_names_cannot_smuggle_commands(bad: str) -> None:
    with pytest.raises(ValueError):
        check_name("server", bad)


def test_refusal_names_node_backend_server() -> None:
    channel = Scripted({"set server b/zz state drain": "No such server.\n"})
    node = HaproxyNode("lb7", channel)
    with pytest.raises(HaproxyCommandRejected) as caught:
        node.set_state("b", "zz", "drain")
    assert caught.value.node == "lb7" and caught.value.backend == "b"
    assert caught.value.server == "zz"
    assert "No such server" in str(caught.value) and "lb7" in str(caught.value)


def test_silent_answer_is_success_and_state_is_validated() -> None:
    channel = Scripted({})
    node = HaproxyNode("lb1", channel)
    node.set_state("b", "old", "maint")
    node.set_weight("b", "old", 0)
    node.set_health_checks("b", "old", False)
    assert channel.sent == ["set server b/old state maint", "set server b/old weight 0",
                            "disable health b/old"]
    with pytest.raises(ValueError):
        node.set_state("b", "old", "up")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        node.set_weight("b", "old", 300)


def test_missing_server_in_state_is_named() -> None:
    node = HaproxyNode("lb1", Scripted({"show servers state b": STATE}))
    assert set(node.servers("b", ["old", "new"])) == {"old", "new"}
    with pytest.raises(HaproxyCommandRejected, match="ghost"):
        node.servers("b", ["old", "ghost"])


def test_unknown_backend_in_show() -> None:
    node = HaproxyNode("lb1", Scripted({"show servers state nb": "Can't find backend.\n"}))
    with pytest.raises(HaproxyCommandRejected, match="Can't find backend"):
        node.servers_state("nb")


def test_current_sessions() -> None:
    node = HaproxyNode("lb1", Scripted({"show stat": STAT}))
    assert node.current_sessions("b", ["old", "new"]) == {"old": 2, "new": 0}
    with pytest.raises(HaproxyCommandRejected, match="zz"):
        node.current_sessions("zz", ["old"])
    with pytest.raises(HaproxyCommandRejected, match="'x'"):
        node.current_sessions("b", ["x"])
