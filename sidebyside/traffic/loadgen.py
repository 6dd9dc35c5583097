"""A bounded load generator: requests at a fixed rate, bounded in count and time,
to loopback addresses only, recording each request's time, status, failure and the
service it went to.

The reads can go to several services (`ReadTarget`, one each in turn at the one total
rate), so a whole cloud's APIs are read at once; the per-service summary
(`service_summaries`) gives each service's requests, failures, unavailability windows
and served latency. Used by the switch-under-load tests, scripts/bench_cutover_load.py
and `make bench-cutover` (scripts/bench_cutover.py). Each request opens its own
connection, as a fresh client would: a kept-alive connection would hide what a new
client sees during a switch.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sidebyside.errors import InputError

# The service a token issue goes to: `token_url` is Keystone's /v3/auth/tokens.
TOKEN_SERVICE = "keystone"


@dataclass(frozen=True)
class RequestRecord:
    index: int
    kind: str               # "get", "token" or "write"
    started: float          # seconds since the run started
    duration: float
    status: int | None      # None when no HTTP answer came
    error: str | None
    body: str = ""          # first bytes of the answer (which server answered)
    service: str = ""       # the target's label ("" for an unlabelled GET url)

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and self.status < 400


@dataclass
class LoadResult:
    url: str
    rate: float
    records: list[RequestRecord] = field(default_factory=list)
    stopped_by: str = ""
    wall_start: float = 0.0   # time.time() when the first request was due

    @property
    def failures(self) -> list[RequestRecord]:
        return [r for r in self.records if not r.ok]

    def unavailability_windows(self, kind: str | None = None,
                               service: str | None = None) -> list[tuple[float, float]]:
        """(first failure start, first success after it) for each run of failures, of
        one kind and/or one service's requests (all when None)."""
        return failure_windows([r for r in self.records
                                if (kind is None or r.kind == kind)
                                and (service is None or r.service == service)])

    def summary(self) -> dict[str, Any]:
        failures = self.failures
        return {
            "url": self.url, "rate": self.rate, "requests": len(self.records),
            "failed": len(failures), "stopped_by": self.stopped_by,
            "failed_by_kind": {kind: sum(1 for r in failures if r.kind == kind)
                               for kind in sorted({r.kind for r in self.records})},
            "windows": {kind: [[round(a, 3), round(b, 3)]
                               for a, b in self.unavailability_windows(kind)]
                        for kind in sorted({r.kind for r in self.records})},
            "by_service": service_summaries(self.records),
        }

    def to_json(self) -> str:
        return json.dumps({"summary": self.summary(),
                           "records": [asdict(r) for r in self.records]}, indent=1)


def failure_windows(records: list[RequestRecord]) -> list[tuple[float, float]]:
    """Pure: the time spans during which requests failed, from the start of the first
    failed request to the start of the next successful one (or the last failure's end)."""
    windows = []
    start: float | None = None
    last_end = 0.0
    for record in sorted(records, key=lambda r: r.started):
        if not record.ok:
            if start is None:
                start = record.started
            last_end = record.started + record.duration
        elif start is not None:
            windows.append((start, record.started))
            start = None
    if start is not None:
        windows.append((start, last_end))
    return windows


def served_latency(records: Sequence[RequestRecord]) -> dict[str, float]:
    """Pure: p50, p95 and max duration in seconds of the requests that were served
    (nearest rank; {} when none was)."""
    served = sorted(r.duration for r in records if r.ok)
    if not served:
        return {}
    return {"p50_s": round(served[len(served) // 2], 3),
            "p95_s": round(served[int(len(served) * 0.95)], 3),
            "max_s": round(served[-1], 3)}


def request_stats(records: Sequence[RequestRecord]) -> dict[str, Any]:
    """Pure: requests, failed, the unavailability windows (their sum and the longest)
    and the served latency of one group of requests."""
    windows = failure_windows(list(records))
    return {"requests": len(records), "failed": sum(1 for r in records if not r.ok),
            "unavailable_s": round(sum(b - a for a, b in windows), 2),
            "longest_window_s": round(max((b - a for a, b in windows), default=0.0), 2),
            "windows": [[round(a, 3), round(b, 3)] for a, b in windows],
            "latency": served_latency(records)}


def service_summaries(records: Sequence[RequestRecord]) -> dict[str, dict[str, Any]]:
    """Pure: {service: {kind: request_stats}} (an unlabelled request under "")."""
    groups: dict[str, dict[str, list[RequestRecord]]] = {}
    for record in records:
        groups.setdefault(record.service, {}).setdefault(record.kind, []).append(record)
    return {service: {kind: request_stats(group) for kind, group in sorted(kinds.items())}
            for service, kinds in sorted(groups.items())}


def require_loopback(url: str) -> tuple[str, int, str]:
    """(host, port, path) of an http URL on a loopback address. Raises InputError."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise InputError(f"load URL {url!r}: only http://<loopback address>/... is supported")
    host = parts.hostname
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise InputError(f"load URL {url!r}: the load generator only targets loopback "
                         "addresses")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return host, parts.port or 80, path


def one_request(host: str, port: int, method: str, path: str, *, body: bytes | None,
                headers: dict[str, str], timeout: float) -> tuple[int | None, str | None, str]:
    """(status, error, first 200 characters of the body) of one request."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")[:200]
        if response.status >= 400:
            return response.status, f"HTTP {response.status}", text
        return response.status, None, text
    except (OSError, http.client.HTTPException) as exc:
        return None, f"{type(exc).__name__}: {exc}", ""
    finally:
        connection.close()


@dataclass(frozen=True)
class WriteLoad:
    """Every `every`-th request a POST to `url` of `body(index)` (a real write, e.g. a
    project create), with `headers` (the token), labelled `service`."""

    url: str
    body: Callable[[int], bytes]
    every: int
    headers: dict[str, str] = field(default_factory=dict)
    service: str = ""


@dataclass(frozen=True)
class ReadTarget:
    """A read: GET `url` with `headers` (an X-Auth-Token makes it a real database read),
    its records labelled `service`."""

    service: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


def request_kind(index: int, token_every: int, write_every: int) -> str:
    """Pure: which request the `index`-th one is (writes win over token issues)."""
    if write_every and index % write_every == write_every - 1:
        return "write"
    if token_every and index % token_every == 0:
        return "token"
    return "get"


def request_schedule(token_every: int, write_every: int,
                     read_targets: int) -> Iterator[tuple[str, int | None]]:
    """Pure: (kind, which read target) of request 0, 1, 2, ... for ever: the kinds as
    `request_kind` says, and the reads going to each of `read_targets` in turn (so at
    one total rate every target gets the same share of the reads)."""
    if read_targets <= 0:
        raise InputError("the load needs at least one read target")
    index = reads = 0
    while True:
        kind = request_kind(index, token_every, write_every)
        if kind == "get":
            yield kind, reads % read_targets
            reads += 1
        else:
            yield kind, None
        index += 1


def run_load(url: str | None = None, *, rate: float, max_requests: int,
             max_seconds: float, token_url: str | None = None,
             token_body: bytes | None = None, token_every: int = 0, timeout: float = 5.0,
             stop: threading.Event | None = None, workers: int = 8,
             on_record: Callable[[RequestRecord], None] | None = None,
             get_headers: dict[str, str] | None = None,
             writes: WriteLoad | None = None,
             reads: Sequence[ReadTarget] = ()) -> LoadResult:
    """Issue reads at `rate` requests per second in all until `max_requests`,
    `max_seconds` or `stop`.

    The reads are GET `url` with `get_headers` (an X-Auth-Token makes them real
    database reads; records unlabelled), or GETs of each of `reads` in turn (each
    labelled by its service): one or the other. Every `token_every`-th request is
    instead a POST of `token_body` to `token_url` (a Keystone token issue, labelled
    "keystone"), and with `writes` every `writes.every`-th one a real write. Requests
    start on schedule even when earlier ones are slow, with at most `workers` in
    flight. Raises InputError for a non-loopback URL, no or both kinds of read target,
    or a bad bound.
    """
    if rate <= 0 or max_requests <= 0 or max_seconds <= 0 or workers <= 0:
        raise InputError("rate, max_requests, max_seconds and workers must be positive")
    if (url is None) == (not reads):
        raise InputError("the load reads either one url or several read targets")
    targets = list(reads) or [ReadTarget(service="", url=str(url),
                                         headers=dict(get_headers or {}))]
    read_parts = [require_loopback(target.url) for target in targets]
    token_target = require_loopback(token_url) if token_url else None
    write_target = require_loopback(writes.url) if writes else None
    result = LoadResult(url=url or ", ".join(t.url for t in targets), rate=rate,
                        wall_start=time.time())
    lock = threading.Lock()
    slots = threading.BoundedSemaphore(workers)
    threads: list[threading.Thread] = []
    schedule = request_schedule(token_every if token_target else 0,
                                writes.every if writes else 0, len(targets))
    begin = time.monotonic()

    def issue(index: int, kind: str, read: int | None) -> None:
        try:
            started = time.monotonic()
            if kind == "token" and token_target:
                service = TOKEN_SERVICE
                host, port, path = token_target
                status, error, text = one_request(
                    host, port, "POST", path, body=token_body,
                    headers={"Content-Type": "application/json"}, timeout=timeout)
            elif kind == "write" and writes and write_target:
                service = writes.service
                host, port, path = write_target
                status, error, text = one_request(
                    host, port, "POST", path, body=writes.body(index),
                    headers={"Content-Type": "application/json", **writes.headers},
                    timeout=timeout)
            else:
                target = targets[read or 0]
                service = target.service
                host, port, path = read_parts[read or 0]
                status, error, text = one_request(host, port, "GET", path, body=None,
                                                  headers=dict(target.headers),
                                                  timeout=timeout)
            record = RequestRecord(index=index, kind=kind, started=started - begin,
                                   duration=time.monotonic() - started, status=status,
                                   error=error, body=text if kind == "get" else "",
                                   service=service)
            with lock:
                result.records.append(record)
            if on_record:
                on_record(record)
        finally:
            slots.release()

    index = 0
    while True:
        if index >= max_requests:
            result.stopped_by = "max_requests"
            break
        due = begin + index / rate
        now = time.monotonic()
        if now - begin >= max_seconds:
            result.stopped_by = "max_seconds"
            break
        if stop is not None and stop.is_set():
            result.stopped_by = "stop"
            break
        if due > now:
            if stop is not None:
                stop.wait(due - now)
            else:
                time.sleep(due - now)
            continue
        slots.acquire()
        kind, read = next(schedule)
        thread = threading.Thread(target=issue, args=(index, kind, read), daemon=True)
        thread.start()
        threads.append(thread)
        index += 1
    for thread in threads:
        thread.join(timeout + 1)
    result.records.sort(key=lambda r: r.index)
    return result
