"""traffic/loadgen.py: failure windows of a request log, load only to loopback, and the
mix of writes, logins and reads."""

from __future__ import annotations

import pytest

from sidebyside.errors import InputError
from sidebyside.traffic.loadgen import (
    RequestRecord,
    failure_windows,
    request_kind,
    require_loopback,
)


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
