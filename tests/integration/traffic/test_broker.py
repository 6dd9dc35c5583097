"""queues_empty against the machine's real RabbitMQ, in a test vhost of our own that
is deleted afterwards (the broker's configuration is otherwise left alone)."""

from __future__ import annotations

import shutil
import socket
import uuid
from collections.abc import Iterator

import pytest

from sidebyside.remote.local import LocalHost
from sidebyside.traffic.broker import RabbitmqctlQueues, queues_empty
from sidebyside.traffic.errors import TrafficNotSettled

pytestmark = pytest.mark.integration

pika = pytest.importorskip("pika", reason="pika publishes the test messages (pip install pika)")


def broker_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def vhost() -> Iterator[str]:
    if shutil.which("rabbitmqctl") is None or not broker_up():
        pytest.skip("no RabbitMQ on 127.0.0.1:5672 with rabbitmqctl")
    host = LocalHost("broker")
    name = f"sbs-test-{uuid.uuid4().hex[:8]}"
    host.run(["rabbitmqctl", "add_vhost", name], timeout=60)
    try:
        host.run(["rabbitmqctl", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
                 timeout=60)
        yield name
    finally:
        host.run(["rabbitmqctl", "delete_vhost", name], timeout=60, check=False)


def test_queues_empty_waits_then_reports(vhost: str) -> None:
    params = pika.ConnectionParameters(host="127.0.0.1", port=5672, virtual_host=vhost,
                                       credentials=pika.PlainCredentials("guest", "guest"))
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        for queue in ("conductor", "conductor.ctl1", "conductor_fanout_abc", "engine"):
            channel.queue_declare(queue=queue)
        for routing_key, count in (("conductor", 3), ("conductor.ctl1", 1),
                                   ("conductor_fanout_abc", 2), ("engine", 5)):
            for i in range(count):
                channel.basic_publish(exchange="", routing_key=routing_key,
                                      body=f"message {i}".encode())
        source = RabbitmqctlQueues(LocalHost("broker"), vhost)
        waits: list[str] = []
        with pytest.raises(TrafficNotSettled) as caught:
            queues_empty(source, "nova", timeout=8, interval=0.5, log=waits.append)
        message = str(caught.value)
        assert "conductor (3)" in message and "conductor.ctl1 (1)" in message
        assert "fanout" not in message and "engine" not in message  # not nova's
        assert waits, "the wait was not logged"

        for queue in ("conductor", "conductor.ctl1"):
            while channel.basic_get(queue=queue, auto_ack=True)[0] is not None:
                pass
        seen = queues_empty(source, "nova", timeout=10, interval=0.5)
        assert sorted(q.name for q in seen) == ["conductor", "conductor.ctl1"]
        assert all(q.messages == 0 for q in seen)
        # heat's queue still holds its 5 messages: another service, another answer
        with pytest.raises(TrafficNotSettled, match=r"engine \(5\)"):
            queues_empty(source, "heat", timeout=0.5, interval=0.25)
    finally:
        connection.close()
