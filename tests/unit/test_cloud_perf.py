"""Percentiles, ratios, flags and the interleaved timing loop (pure)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidebyside.cloud.perf import (
    CallComparison,
    CallStats,
    Capacity,
    ComparisonReport,
    compare,
    parse_meminfo,
    percentile,
    ratio,
    run_interleaved,
)


def test_percentile_interpolates_between_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile(list(range(1, 101)), 95) == pytest.approx(95.05)
    assert percentile([7.0], 95) == 7.0


def test_percentile_rejects_nothing_and_out_of_range() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=50))
def test_percentiles_are_ordered_and_bounded(values: list[float]) -> None:
    p50, p95 = percentile(values, 50), percentile(values, 95)
    assert min(values) <= p50 <= p95 <= max(values)


def test_ratio_and_missing_values() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(None, 2.0) is None
    assert ratio(1.0, 0.0) is None


def _call(old: list[float], new: list[float], threshold: float = 1.5) -> CallComparison:
    return CallComparison("list projects", CallStats.of(old), CallStats.of(new), threshold)


def test_flag_on_the_median_over_the_threshold() -> None:
    assert _call([0.010] * 5, [0.016] * 5).slower           # 1.6x
    assert not _call([0.010] * 5, [0.015] * 5).slower       # exactly 1.5x is not over
    assert not _call([0.010] * 5, [0.012] * 4 + [1.0]).slower  # one stall does not flag
    assert _call([0.010] * 5, [0.012] * 4 + [1.0]).ratio_p95 > 10
    assert _call([0.010] * 5, [0.013] * 5, threshold=1.2).slower


def test_a_side_without_samples_has_no_ratio_and_no_flag() -> None:
    call = CallComparison("x", CallStats.of([0.01]), CallStats.of([], errors=3), 1.5)
    assert call.ratio_p50 is None and not call.slower and call.failed
    assert call.to_dict()["new"] == {"samples": 0, "errors": 3, "p50_ms": None,
                                     "p95_ms": None, "max_ms": None, "mean_ms": None}


def test_interleaving_alternates_which_side_goes_first() -> None:
    order: list[tuple[str, str]] = []

    def call(side: str, scenario: str):  # type: ignore[no-untyped-def]
        return lambda: order.append((side, scenario))

    calls = {side: {s: call(side, s) for s in ("a", "b")} for side in ("old", "new")}
    ticks = itertools.count()
    samples = run_interleaved(["a", "b"], calls, rounds=2, clock=lambda: float(next(ticks)))
    measured = order[4:]  # after one warm-up call per scenario and side
    assert measured == [("old", "a"), ("new", "a"), ("old", "b"), ("new", "b"),
                        ("new", "a"), ("old", "a"), ("new", "b"), ("old", "b")]
    assert samples.seconds["old"]["a"] == [1.0, 1.0]
    assert all(len(v) == 2 for side in samples.seconds.values() for v in side.values())


def test_errors_are_counted_with_the_first_message_and_not_timed() -> None:
    def broken() -> None:
        raise ConnectionError("refused password=hunter22")

    calls = {"old": {"a": lambda: None}, "new": {"a": broken}}
    samples = run_interleaved(["a"], calls, rounds=3, warmup=False)
    assert samples.errors["new"]["a"] == 3 and samples.seconds["new"]["a"] == []
    assert samples.first_error["a"].startswith("new: ConnectionError: refused")
    assert "hunter22" not in samples.first_error["a"]
    (result,) = compare(samples, ["a"], threshold=1.5)
    assert result.failed and result.old.samples == 3


def test_rounds_must_be_positive() -> None:
    with pytest.raises(ValueError):
        run_interleaved([], {"old": {}, "new": {}}, rounds=0)


def test_parse_meminfo() -> None:
    assert parse_meminfo("MemTotal:       16314236 kB\nMemFree: 1 kB\n") == 16314236 * 1024
    with pytest.raises(ValueError):
        parse_meminfo("MemFree: 1 kB\n")


def test_report_lists_flagged_and_sums_capacity() -> None:
    report = ComparisonReport(
        rounds=5, threshold=1.5,
        calls=(_call([0.01] * 5, [0.02] * 5), _call([0.01] * 5, [0.01] * 5)),
        capacity={"old": (Capacity("a", 2, 2**30), Capacity("b", 4, 2**30)),
                  "new": (Capacity("c", None, None, error="unreachable"),)})
    assert [c.scenario for c in report.flagged] == ["list projects"]
    assert report.capacity_total("old") == (6, 2**31)
    assert report.capacity_total("new") == (None, None)
    data = report.to_dict()
    assert data["flagged"] == ["list projects"] and data["calls"][0]["ratio_p50"] == 2.0
    assert data["capacity"]["old"][1]["memory_gib"] == 1.0
