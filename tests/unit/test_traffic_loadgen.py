"""traffic/loadgen.py: failure windows of a request log, load only to loopback, the
mix of writes, logins and reads, reads shared between services at one rate, and the
per-service summary; one run against a local HTTP server of the test's own."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sidebyside.errors import InputError
from sidebyside.traffic.loadgen import (
    ReadTarget,
    RequestRecord,
    WriteLoad,
    failure_windows,
    request_kind,
    request_schedule,
    require_loopback,
    run_load,
    served_latency,
    service_summaries,
)
from tests.conftest import loopback_address


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


def test_request_kind_mixes_writes_logins_and_reads() -> None:
    kinds = [request_kind(i, 5, 10) for i in range(20)]
    assert kinds.count("write") == 2 and kinds.count("token") == 4
    assert kinds.count("get") == 14
    assert [request_kind(i, 0, 0) for i in range(3)] == ["get"] * 3
    assert kinds[0] == "token" and kinds[9] == "write"


def test_request_schedule_shares_the_reads_between_targets_in_turn() -> None:
    schedule = list(itertools.islice(request_schedule(20, 10, 5), 200))
    assert [kind for kind, _ in schedule] == [request_kind(i, 20, 10) for i in range(200)]
    reads = [target for kind, target in schedule if kind == "get"]
    assert len(reads) == 200 - 20 - 10
    assert [reads.count(t) for t in range(5)] == [34] * 5
    assert reads[:6] == [0, 1, 2, 3, 4, 0]
    assert all(target is None for kind, target in schedule if kind != "get")


def test_request_schedule_needs_a_read_target() -> None:
    with pytest.raises(InputError):
        next(request_schedule(0, 0, 0))


def timed(index: int, duration: float, ok: bool = True, service: str = "",
          kind: str = "get", started: float | None = None) -> RequestRecord:
    return RequestRecord(index, kind, index if started is None else started, duration,
                         200 if ok else 503, None if ok else "HTTP 503", service=service)


def test_served_latency_counts_only_served_requests() -> None:
    records = [timed(i, float(d)) for i, d in enumerate(range(20, 0, -1))]
    records.append(timed(20, 99.0, ok=False))
    assert served_latency(records) == {"p50_s": 11.0, "p95_s": 20.0, "max_s": 20.0}
    assert served_latency([timed(0, 1.0, ok=False)]) == {}


def test_service_summaries_per_service_and_kind() -> None:
    records = [timed(0, 0.1, service="nova"), timed(1, 0.1, False, "nova"),
               timed(2, 0.1, False, "nova"), timed(3, 0.2, service="nova"),
               timed(4, 0.1, False, "nova"), timed(5, 0.3, service="nova"),
               timed(6, 0.1, service="keystone"), timed(7, 0.5, service="keystone",
                                                        kind="token")]
    summary = service_summaries(records)
    assert set(summary) == {"nova", "keystone"}
    assert set(summary["keystone"]) == {"get", "token"}
    nova = summary["nova"]["get"]
    assert (nova["requests"], nova["failed"]) == (6, 3)
    assert nova["windows"] == [[1.0, 3.0], [4.0, 5.0]]
    assert (nova["unavailable_s"], nova["longest_window_s"]) == (3.0, 2.0)
    assert nova["latency"]["max_s"] == 0.3
    assert summary["keystone"]["token"] == {
        "requests": 1, "failed": 0, "unavailable_s": 0, "longest_window_s": 0,
        "windows": [], "latency": {"p50_s": 0.5, "p95_s": 0.5, "max_s": 0.5}}


class PathEcho(BaseHTTPRequestHandler):
    """Answers every request with its method and path; /down/... with 503."""

    def answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = f"{self.command} {self.path}".encode()
        self.send_response(503 if self.path.startswith("/down") else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_url() -> Iterator[str]:
    address = loopback_address()
    server = ThreadingHTTPServer((address, 0), PathEcho)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://{address}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_run_load_labels_each_request_with_its_service(echo_url: str) -> None:
    rate = 100.0
    reads = [ReadTarget("glance", f"{echo_url}/v2/images"),
             ReadTarget("nova", f"{echo_url}/down/servers?all_tenants=1",
                        headers={"X-Auth-Token": "t"})]
    writes = WriteLoad(url=f"{echo_url}/v3/projects", body=lambda i: b"{}", every=5,
                       service="keystone")
    result = run_load(rate=rate, max_requests=30, max_seconds=10, reads=reads,
                      writes=writes, token_url=f"{echo_url}/v3/auth/tokens",
                      token_body=b"{}", token_every=10, timeout=5)
    assert result.stopped_by == "max_requests" and len(result.records) == 30
    seen = {(r.service, r.kind, r.body) for r in result.records}
    assert seen == {("glance", "get", "GET /v2/images"),
                    ("nova", "get", "GET /down/servers?all_tenants=1"),
                    ("keystone", "write", ""), ("keystone", "token", "")}
    # on schedule at the one total rate, whatever the target
    assert all(r.started >= r.index / rate - 0.01 for r in result.records)
    assert result.records[-1].started >= 29 / rate - 0.01
    by_service = result.summary()["by_service"]
    assert by_service["glance"]["get"]["failed"] == 0
    # 21 reads in turn (30 - 6 writes - 3 logins): glance first
    assert by_service["glance"]["get"]["requests"] == 11
    assert by_service["nova"]["get"]["requests"] == by_service["nova"]["get"]["failed"] == 10
    assert by_service["keystone"]["write"]["requests"] == 6
    assert by_service["keystone"]["token"]["requests"] == 3
    assert result.unavailability_windows("get", "glance") == []
    assert result.unavailability_windows("get", "nova")


def test_run_load_reads_one_url_or_several_targets(echo_url: str) -> None:
    with pytest.raises(InputError):
        run_load(rate=1, max_requests=1, max_seconds=1)
    with pytest.raises(InputError):
        run_load(echo_url, rate=1, max_requests=1, max_seconds=1,
                 reads=[ReadTarget("glance", echo_url)])
    unlabelled = run_load(f"{echo_url}/v3", rate=50, max_requests=2, max_seconds=5)
    assert [(r.service, r.body) for r in unlabelled.records] == [("", "GET /v3")] * 2
