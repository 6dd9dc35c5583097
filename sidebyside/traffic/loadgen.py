"""A bounded load generator: requests at a fixed rate, bounded in count and time,
to loopback addresses only, recording each request's time, status and failure.

Used by the switch-under-load tests and by scripts/bench_cutover_load.py
(`make bench-cutover`). Each request opens its own connection, as a fresh client
would: a kept-alive connection would hide what a new client sees during a switch.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sidebyside.errors import InputError


@dataclass(frozen=True)
class RequestRecord:
    index: int
    kind: str               # "get" or "token"
    started: float          # seconds since the run started
    duration: float
    status: int | None      # None when no HTTP answer came
    error: str | None
    body: str = ""          # first bytes of the answer (which server answered)

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

    def unavailability_windows(self, kind: str | None = None) -> list[tuple[float, float]]:
        """(first failure start, first success after it) for each run of failures."""
        return failure_windows([r for r in self.records if kind is None or r.kind == kind])

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
    project create), with `headers` (the token)."""

    url: str
    body: Callable[[int], bytes]
    every: int
    headers: dict[str, str] = field(default_factory=dict)


def request_kind(index: int, token_every: int, write_every: int) -> str:
    """Pure: which request the `index`-th one is (writes win over token issues)."""
    if write_every and index % write_every == write_every // 2:
        return "write"
    if token_every and index % token_every == 0:
        return "token"
    return "get"


def run_load(url: str, *, rate: float, max_requests: int, max_seconds: float,
             token_url: str | None = None, token_body: bytes | None = None,
             token_every: int = 0, timeout: float = 5.0,
             stop: threading.Event | None = None, workers: int = 8,
             on_record: Callable[[RequestRecord], None] | None = None,
             get_headers: dict[str, str] | None = None,
             writes: WriteLoad | None = None) -> LoadResult:
    """Issue GET `url` at `rate` per second until `max_requests`, `max_seconds` or `stop`.

    Every `token_every`-th request is instead a POST of `token_body` to `token_url`
    (a Keystone token issue), and with `writes` every `writes.every`-th one a real
    write. GETs carry `get_headers` (an X-Auth-Token makes them real database reads).
    Requests start on schedule even when earlier ones are slow, with at most `workers`
    in flight. Raises InputError for a non-loopback URL or a bad bound.
    """
    if rate <= 0 or max_requests <= 0 or max_seconds <= 0 or workers <= 0:
        raise InputError("rate, max_requests, max_seconds and workers must be positive")
    get_target = require_loopback(url)
    token_target = require_loopback(token_url) if token_url else None
    write_target = require_loopback(writes.url) if writes else None
    result = LoadResult(url=url, rate=rate, wall_start=time.time())
    lock = threading.Lock()
    slots = threading.BoundedSemaphore(workers)
    threads: list[threading.Thread] = []
    begin = time.monotonic()

    def issue(index: int, kind: str) -> None:
        try:
            started = time.monotonic()
            if kind == "token" and token_target:
                host, port, path = token_target
                status, error, text = one_request(
                    host, port, "POST", path, body=token_body,
                    headers={"Content-Type": "application/json"}, timeout=timeout)
            elif kind == "write" and writes and write_target:
                host, port, path = write_target
                status, error, text = one_request(
                    host, port, "POST", path, body=writes.body(index),
                    headers={"Content-Type": "application/json", **writes.headers},
                    timeout=timeout)
            else:
                host, port, path = get_target
                status, error, text = one_request(host, port, "GET", path, body=None,
                                                  headers=dict(get_headers or {}),
                                                  timeout=timeout)
            record = RequestRecord(index=index, kind=kind, started=started - begin,
                                   duration=time.monotonic() - started, status=status,
                                   error=error, body=text if kind == "get" else "")
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
        kind = request_kind(index, token_every if token_target else 0,
                            writes.every if writes else 0)
        thread = threading.Thread(target=issue, args=(index, kind), daemon=True)
        thread.start()
        threads.append(thread)
        index += 1
    for thread in threads:
        thread.join(timeout + 1)
    result.records.sort(key=lambda r: r.index)
    return result
