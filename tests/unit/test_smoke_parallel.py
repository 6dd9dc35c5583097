"""API calls of a check run concurrently, results in the order asked."""

from __future__ import annotations

import threading
import time

from sidebyside.cloud.smoke import in_parallel


def test_results_come_back_in_order_even_when_later_calls_finish_first() -> None:
    def call(i: int):
        def run() -> int:
            time.sleep(0.05 * (3 - i))
            return i
        return run

    assert in_parallel([call(i) for i in range(4)]) == [0, 1, 2, 3]


def test_calls_are_in_flight_at_once() -> None:
    # Each call waits for the others at a barrier: run one after the other, the first
    # would time out there and the barrier would break.
    barrier = threading.Barrier(3, timeout=5)
    assert in_parallel([barrier.wait] * 3, max_parallel=3) != []
    assert not barrier.broken


def test_an_exception_propagates() -> None:
    def boom() -> int:
        raise RuntimeError("listing failed")

    try:
        in_parallel([lambda: 1, boom])
    except RuntimeError as exc:
        assert "listing failed" in str(exc)
    else:
        raise AssertionError("no exception")
