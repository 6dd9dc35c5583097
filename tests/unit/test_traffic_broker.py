"""traffic/broker.py: which queues are a service's RPC queues, and the two queue-list
parsers (rabbitmqctl JSON, the management API)."""

from __future__ import annotations

import pytest

from sidebyside.traffic.broker import (
    QueueDepth,
    is_service_queue,
    parse_management_queues,
    parse_rabbitmqctl_json,
    service_queues,
)


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
