"""RabbitMQ queue depth of a service's queues, to drain RPC work before stopping it.

Two ways to read the depths: `rabbitmqctl list_queues` on the broker host (through
the Host interface; needs no plugin) or the management HTTP API (when the inventory
gives `management_url`; needs the rabbitmq_management plugin).

Which queues belong to a service follows oslo.messaging's naming: a topic queue
(`conductor`), its per-host queue (`conductor.ctl1`). Fanout queues (per consumer,
auto-deleted), reply queues (transient) and notification queues (consumed by other
services) are not waited for.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from sidebyside.errors import InputError
from sidebyside.redact import register_secret
from sidebyside.remote.base import Host, RemoteError
from sidebyside.traffic.errors import TrafficNotSettled
from sidebyside.traffic.waiting import wait_until

# Topics whose consumers run on the controllers being replaced (the agents on
# compute/network nodes keep consuming their own queues during the window).
SERVICE_TOPICS: Mapping[str, tuple[str, ...]] = {
    "nova": ("conductor", "scheduler", "consoleauth", "nova"),
    "cinder": ("cinder-scheduler", "cinder-volume", "cinder-backup"),
    "neutron": ("q-plugin", "q-reports-plugin", "q-l3-plugin", "q-server-resource-versions",
                "q-firewall-plugin", "q-metering-plugin"),
    "heat": ("engine", "heat-engine-listener"),
    "keystone": (), "glance": (), "placement": (), "horizon": (),
}


@dataclass(frozen=True)
class QueueDepth:
    name: str
    messages: int


def is_service_queue(name: str, topics: Iterable[str]) -> bool:
    """Pure: `name` is one of `topics` or a per-server queue of one (`topic.host`)."""
    if "_fanout_" in name or name.startswith("reply_") or name.startswith("notifications"):
        return False
    return any(name == topic or name.startswith(topic + ".") for topic in topics)


def service_queues(depths: Iterable[QueueDepth], service: str,
                   topics: Iterable[str] | None = None) -> list[QueueDepth]:
    """Pure: the queues of `service` among `depths`."""
    wanted = tuple(topics) if topics is not None else SERVICE_TOPICS.get(service, ())
    return [d for d in depths if is_service_queue(d.name, wanted)]


def parse_rabbitmqctl_json(text: str) -> list[QueueDepth]:
    """`rabbitmqctl list_queues --formatter json name messages`. Raises ValueError."""
    rows = json.loads(text or "[]")
    return [QueueDepth(str(row["name"]), int(row.get("messages") or 0)) for row in rows]


def parse_management_queues(text: str) -> list[QueueDepth]:
    """GET /api/queues/<vhost>. Raises ValueError."""
    rows = json.loads(text)
    return [QueueDepth(str(row["name"]), int(row.get("messages") or 0)) for row in rows]


class QueueSource(Protocol):
    description: str

    def depths(self) -> list[QueueDepth]:
        """Every queue of the vhost. Raises UnreachableError."""
        ...


class RabbitmqctlQueues:
    """`rabbitmqctl list_queues` on the broker host."""

    def __init__(self, host: Host, vhost: str = "/") -> None:
        self.host = host
        self.vhost = vhost
        self.description = f"rabbitmqctl on {host.name} (vhost {vhost})"

    def depths(self) -> list[QueueDepth]:
        """Raises RemoteError (a subclass of UnreachableError)."""
        result = self.host.run(["rabbitmqctl", "list_queues", "-q", "-p", self.vhost,
                                "--formatter", "json", "name", "messages"], timeout=60)
        try:
            return parse_rabbitmqctl_json(result.stdout)
        except (ValueError, KeyError, TypeError) as exc:
            raise RemoteError(self.host.name, "rabbitmqctl list_queues",
                              f"printed no queue list: {exc}") from exc


class ManagementApiQueues:
    """GET <management_url>/api/queues/<vhost> with basic auth."""

    def __init__(self, url: str, user: str, password: str, vhost: str = "/",
                 timeout: float = 10.0) -> None:
        register_secret(password)
        self.url = url.rstrip("/")
        self.user = user
        self._password = password
        self.vhost = vhost
        self.timeout = timeout
        self.description = f"RabbitMQ management API {self.url} (vhost {vhost})"

    def depths(self) -> list[QueueDepth]:
        """Raises RemoteError naming the URL (never the password)."""
        address = (f"{self.url}/api/queues/{urllib.parse.quote(self.vhost, safe='')}"
                   "?columns=name,messages")
        token = base64.b64encode(f"{self.user}:{self._password}".encode()).decode()
        request = urllib.request.Request(address, headers={"Authorization": f"Basic {token}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return parse_management_queues(response.read().decode())
        except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
            raise RemoteError(self.url, f"GET {address}", f"failed: {exc}") from exc


def queue_source(broker: object, *, host: Callable[[str], Host],
                 password: Callable[[], str | None]) -> QueueSource:
    """The source an inventory `broker` block asks for (`BrokerModel`): the management
    API when `management_url` is given, else rabbitmqctl on `broker.host`. Raises
    InputError when neither is given."""
    url = getattr(broker, "management_url", None)
    vhost = getattr(broker, "vhost", "/")
    if url:
        return ManagementApiQueues(url, getattr(broker, "user", "guest"),
                                   password() or "", vhost)
    name = getattr(broker, "host", None)
    if not name:
        raise InputError("broker: give host (for rabbitmqctl) or management_url")
    return RabbitmqctlQueues(host(name), vhost)


def queues_empty(source: QueueSource, service: str, *, timeout: float = 120.0,
                 interval: float = 1.0, topics: Iterable[str] | None = None,
                 log: Callable[[str], None] | None = None) -> list[QueueDepth]:
    """Wait until every queue of `service` is empty; return the queues seen (all at 0).

    Raises TrafficNotSettled naming each non-empty queue and its depth after
    `timeout`; UnreachableError when the broker cannot be read.
    """
    wanted = tuple(topics) if topics is not None else SERVICE_TOPICS.get(service, ())
    if not wanted:
        return []

    def pending(queues: list[QueueDepth]) -> list[QueueDepth]:
        return [q for q in queues if q.messages > 0]

    done, last = wait_until(
        lambda: service_queues(source.depths(), service, wanted),
        lambda queues: not pending(queues), timeout=timeout, interval=interval,
        waiting_for=lambda queues: f"{service}: messages in " + ", ".join(
            f"{q.name} ({q.messages})" for q in pending(queues)),
        on_wait=log)
    if not done:
        raise TrafficNotSettled(
            f"{service}: queues not empty after {timeout:.0f}s on {source.description}: "
            + ", ".join(f"{q.name} ({q.messages})" for q in pending(last)),
            hint="the old service's consumers must finish their work before it stops; "
                 "check that they are running, or raise the timeout")
    return last
