"""Cutover's read-only window: writes refused at HAProxy, reads still served.

While the final copy and the db_syncs run, the old API servers keep answering reads
and HAProxy answers every write with 503 and Retry-After (the sbs rules of
haproxy.cfg, see ha/haproxy.cfg.j2, read one map file: backend -> what is frozen):

  freeze(service):  map entry `<backend> all` (or `keep-token-issue` for keystone
                    when fernet token issue may stay open) on every node, saved into
                    the map file so a reload keeps it, read back from every node; then
                    wait until every request that was in flight when the freeze took
                    effect has ended (`show sess` epochs), so no write is still running
                    on the old side when the final copy takes its snapshot
  thaw(services):   the entries removed everywhere (after the switch, writes go to the
                    new side; on rollback, to the old one again)

Nothing here can make writes reach the old databases: a node that lost its map (a
restart without the file) would let writes through, which the cutover's check of the
old databases before the switch catches and refuses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sidebyside.traffic.errors import TrafficNotSettled
from sidebyside.traffic.haproxy import HaproxyNode, Stream
from sidebyside.traffic.switch import ServiceRoute, Waiter

FROZEN_ALL = "all"
FROZEN_EXCEPT_TOKEN_ISSUE = "keep-token-issue"


def freeze_value(service: str, allow_token_issue: bool) -> str:
    """Pure: what the map says for `service`'s backend while it is frozen."""
    if service == "keystone" and allow_token_issue:
        return FROZEN_EXCEPT_TOKEN_ISSUE
    return FROZEN_ALL


def in_flight(streams: Iterable[Stream], backend: str, mark: int) -> list[Stream]:
    """Pure: the streams of `backend` created no later than the `show sess` call whose
    own epoch was `mark` (requests that may have started before the freeze)."""
    return [s for s in streams if s.backend == backend and s.epoch <= mark]


def epoch_mark(streams: Sequence[Stream]) -> int:
    """Pure: the highest epoch in one `show sess` answer. That answer lists its own CLI
    stream, so every stream created later has a higher epoch."""
    return max((s.epoch for s in streams), default=0)


@dataclass
class WriteFreeze:
    """The write freeze on every HAProxy node of the inventory."""

    nodes: Sequence[HaproxyNode]
    map_file: Callable[[HaproxyNode], str]      # the map's path as that node sees it
    routes: Mapping[str, ServiceRoute]
    allow_token_issue: bool
    wait: Waiter
    log: Callable[[str], None] = lambda line: None
    timeout: float = 300.0
    poll_interval: float = 0.5

    def _entries(self) -> dict[str, dict[str, str]]:
        return {node.name: node.map_entries(self.map_file(node)) for node in self.nodes}

    def frozen(self, service: str) -> bool:
        """True when every node refuses the service's writes. Raises
        HaproxyCommandRejected, HaproxyUnreachable."""
        route = self.routes[service]
        want = freeze_value(service, self.allow_token_issue)
        return all(entries.get(route.backend) == want for entries in self._entries().values())

    def thawed(self, services: Iterable[str]) -> bool:
        backends = {self.routes[s].backend for s in services if s in self.routes}
        return not any(backends & set(entries) for entries in self._entries().values())

    def freeze(self, service: str) -> dict[str, Any]:
        """Refuse the service's writes on every node and wait for the writes in flight.

        Raises TrafficNotSettled (requests still running at the timeout, or a node not
        showing the entry on read-back), HaproxyCommandRejected (the map file is not in
        that node's haproxy.cfg), HaproxyUnreachable, RemoteError (saving the map file).
        """
        route = self.routes[service]
        value = freeze_value(service, self.allow_token_issue)
        marks: dict[str, int] = {}
        for node in self.nodes:
            node.set_map_entry(self.map_file(node), route.backend, value)
            node.save_map(self.map_file(node))
            marks[node.name] = epoch_mark(node.streams())
        problems = [f"{node}: {route.backend} -> {entries.get(route.backend)!r}"
                    for node, entries in self._entries().items()
                    if entries.get(route.backend) != value]
        if problems:
            raise TrafficNotSettled(
                f"{service}: the write freeze is not in force on every node: "
                + "; ".join(problems), hint="re-run the same command: the freeze is idempotent")
        what = "writes except token issue" if value == FROZEN_EXCEPT_TOKEN_ISSUE else "writes"
        self.log(f"{service}: {what} refused with 503 on backend {route.backend} "
                 f"({', '.join(marks)}); reads still served by the old servers")
        waited = self._wait_in_flight(route, marks)
        return {"service": service, "backend": route.backend, "frozen": value,
                "nodes": sorted(marks), "in_flight_waited_s": round(waited, 3)}

    def _wait_in_flight(self, route: ServiceRoute, marks: Mapping[str, int]) -> float:
        by_name = {node.name: node for node in self.nodes}
        started = time.monotonic()

        def still_running() -> dict[str, list[Stream]]:
            found = {}
            for name, mark in marks.items():
                streams = in_flight(by_name[name].streams(), route.backend, mark)
                if streams:
                    found[name] = streams
            return found

        def describe(found: Mapping[str, list[Stream]]) -> str:
            return ", ".join(f"{node}: {s.source} on {s.server or '-'} (age {s.age})"
                             for node, streams in sorted(found.items()) for s in streams[:5])

        done, last = self.wait(
            still_running, lambda found: not found, timeout=self.timeout,
            interval=self.poll_interval,
            waiting_for=lambda found: f"{route.service}: requests from before the freeze "
                                      f"still running: {describe(found)}",
            on_wait=self.log)
        if not done:
            raise TrafficNotSettled(
                f"{route.service}: requests that started before the write freeze are still "
                f"running after {self.timeout:.0f}s: {describe(last)}",
                hint="long requests (uploads?) are still being served; wait and re-run, or "
                     "raise the drain timeout")
        waited = time.monotonic() - started
        self.log(f"{route.service}: no request from before the freeze left after "
                 f"{waited:.1f}s")
        return waited

    def logins_open(self) -> bool:
        route = self.routes.get("keystone")
        return route is None or all(entries.get(route.backend) != FROZEN_ALL
                                    for entries in self._entries().values())

    def open_logins(self) -> dict[str, Any]:
        """Keystone's token issue through again (other writes still refused), where the
        freeze still holds it. Raises as thaw."""
        route = self.routes.get("keystone")
        if route is None:
            return {"opened": []}
        opened = []
        for node in self.nodes:
            if node.map_entries(self.map_file(node)).get(route.backend) == FROZEN_ALL:
                node.set_map_entry(self.map_file(node), route.backend,
                                   FROZEN_EXCEPT_TOKEN_ISSUE)
                node.save_map(self.map_file(node))
                opened.append(node.name)
        if not self.logins_open():
            raise TrafficNotSettled("logins still refused on some node",
                                    hint="re-run the same command: it is idempotent")
        self.log(f"keystone logins open on {route.backend}; other writes still refused")
        return {"opened": opened}

    def thaw(self, services: Iterable[str]) -> dict[str, Any]:
        """Let writes through again on every node. Raises TrafficNotSettled (read-back),
        HaproxyCommandRejected, HaproxyUnreachable, RemoteError."""
        wanted = [s for s in services if s in self.routes]
        backends = [self.routes[s].backend for s in wanted]
        for node in self.nodes:
            for backend in backends:
                node.delete_map_entry(self.map_file(node), backend)
            node.save_map(self.map_file(node))
        if not self.thawed(wanted):
            raise TrafficNotSettled(
                f"writes still refused on some node for {', '.join(backends)}",
                hint="re-run the same command: thawing is idempotent")
        if backends:
            self.log(f"writes accepted again on {', '.join(backends)}")
        return {"thawed": backends, "nodes": [node.name for node in self.nodes]}
