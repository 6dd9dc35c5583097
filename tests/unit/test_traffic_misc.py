"""Pure helpers of the traffic layer: VIP holder parsing, track file values, broker
queue selection, load generator windows and bounds, template rendering."""

from __future__ import annotations

import pytest

from sidebyside.errors import InputError
from sidebyside.traffic.broker import (
    QueueDepth,
    is_service_queue,
    parse_management_queues,
    parse_rabbitmqctl_json,
    service_queues,
)
from sidebyside.traffic.keepalived import holds_address, track_file_values
from sidebyside.traffic.loadgen import RequestRecord, failure_windows, require_loopback
from sidebyside.traffic.templates import (
    Backend,
    Frontend,
    HaproxyGlobals,
    Server,
    render_haproxy_cfg,
    render_keepalived_conf,
)

IP_ADDR = """1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
2: eth0    inet 10.213.0.2/24 scope global eth0\\       valid_lft forever
2: eth0    inet 10.213.0.100/24 scope global secondary eth0\\       valid_lft forever
2: eth0    inet6 fe80::1/64 scope link \\       valid_lft forever preferred_lft forever
"""


def test_holds_address() -> None:
    assert holds_address(IP_ADDR, "10.213.0.100")
    assert holds_address(IP_ADDR, "10.213.0.100/24")
    assert not holds_address(IP_ADDR, "10.213.0.10")
    assert holds_address(IP_ADDR, "fe80::1")


def test_track_file_values() -> None:
    assert track_file_values("new", 100) == {"new": "0\n", "old": "-100\n"}
    assert track_file_values("old", 50) == {"old": "0\n", "new": "-50\n"}
    with pytest.raises(ValueError):
        track_file_values("new", 0)


@pytest.mark.parametrize("name,expected", [
    ("conductor", True), ("conductor.ctl1", True), ("conductor_fanout_1a2b", False),
    ("reply_abc", False), ("notifications.info", False), ("conductors", False),
    ("scheduler", True), ("compute.cmp1", False),
])
def test_nova_queues(name: str, expected: bool) -> None:
    assert is_service_queue(name, ("conductor", "scheduler")) is expected


def test_service_queues_and_parsers() -> None:
    depths = parse_rabbitmqctl_json(
        '[{"name":"conductor","messages":2},{"name":"engine","messages":0},'
        '{"name":"q-plugin","messages":""}]')
    assert service_queues(depths, "nova") == [QueueDepth("conductor", 2)]
    assert service_queues(depths, "heat") == [QueueDepth("engine", 0)]
    assert service_queues(depths, "neutron") == [QueueDepth("q-plugin", 0)]
    assert service_queues(depths, "keystone") == []
    assert parse_management_queues('[{"name":"engine","messages":4}]') == [
        QueueDepth("engine", 4)]


def record(index: int, started: float, ok: bool) -> RequestRecord:
    return RequestRecord(index, "get", started, 0.1, 200 if ok else 503,
                         None if ok else "HTTP 503")


def test_failure_windows() -> None:
    records = [record(0, 0.0, True), record(1, 1.0, False), record(2, 2.0, False),
               record(3, 3.0, True), record(4, 4.0, False)]
    assert failure_windows(records) == [(1.0, 3.0), (4.0, 4.1)]
    assert failure_windows([record(0, 0.0, True)]) == []


@pytest.mark.parametrize("url", ["http://10.0.0.1/", "https://127.0.0.1/",
                                 "http://example.org/", "ftp://127.0.0.1/"])
def test_load_only_to_loopback(url: str) -> None:
    with pytest.raises(InputError):
        require_loopback(url)


def test_loopback_parts() -> None:
    assert require_loopback("http://127.0.0.10:5000/v3?x=1") == ("127.0.0.10", 5000, "/v3?x=1")
    assert require_loopback("http://localhost") == ("localhost", 80, "/")


def test_haproxy_cfg_declares_both_sides_new_disabled() -> None:
    text = render_haproxy_cfg(
        [Frontend("k_vip", "127.0.0.10:5000", "k_api")],
        [Backend("k_api", [Server("old-ctl1", "127.0.0.11", 5000),
                           Server("new-ctl1", "127.0.0.12", 5000, side="new")],
                 check_path="/v3")],
        HaproxyGlobals(admin_socket="/run/x.sock", state_file="/var/lib/x-state"))
    lines = [line.strip() for line in text.splitlines()]
    assert "server old-ctl1 127.0.0.11:5000 check inter 2s fall 2 rise 2  # old" in lines
    assert "server new-ctl1 127.0.0.12:5000 check inter 2s fall 2 rise 2 disabled  # new" \
        in lines
    assert "stats socket /run/x.sock mode 600 level admin expose-fd listeners" in lines
    assert "server-state-file /var/lib/x-state" in lines
    assert "load-server-state-from-file global" in lines


def test_haproxy_cfg_refuses_one_sided_backends() -> None:
    with pytest.raises(InputError, match="old and new"):
        render_haproxy_cfg([], [Backend("k_api", [Server("a", "127.0.0.11", 1)])])
    with pytest.raises(InputError, match="undeclared|not declared"):
        render_haproxy_cfg([Frontend("f", "127.0.0.1:1", "nope")], [])


def test_keepalived_conf() -> None:
    text = render_keepalived_conf(instance="VI_1", interface="eth0", vip="10.0.0.10",
                                  priority=150, track_file="/etc/keepalived/sbs-priority")
    assert "10.0.0.10/32 dev eth0" in text
    assert "file /etc/keepalived/sbs-priority" in text and "priority 150" in text
    with pytest.raises(InputError):
        render_keepalived_conf(instance="VI_1", interface="eth0", vip="nope", priority=1,
                               track_file="/x")
    with pytest.raises(InputError):
        render_keepalived_conf(instance="VI_1", interface="eth0", vip="10.0.0.1",
                               priority=255, track_file="/x")


def test_wait_until_reports_each_wait_and_the_last_result() -> None:
    import itertools

    from sidebyside.traffic.waiting import wait_until

    counter = itertools.count()
    lines: list[str] = []
    done, value = wait_until(lambda: next(counter), lambda n: n >= 3, timeout=5,
                             interval=0.001, waiting_for=lambda n: f"n={n}",
                             on_wait=lines.append)
    assert (done, value) == (True, 3)
    assert [line.split(": ")[-1] for line in lines] == ["n=0", "n=1", "n=2"]
    done, value = wait_until(lambda: 7, lambda n: n == 0, timeout=0.05, interval=0.01,
                             waiting_for=str)
    assert (done, value) == (False, 7)


def test_request_kind_mixes_writes_logins_and_reads() -> None:
    from sidebyside.traffic.loadgen import request_kind

    kinds = [request_kind(i, 5, 10) for i in range(20)]
    assert kinds.count("write") == 2 and kinds.count("token") == 4
    assert kinds.count("get") == 14
    assert [request_kind(i, 0, 0) for i in range(3)] == ["get"] * 3
    assert kinds[0] == "token" and kinds[9] == "write"
