"""The hand-written SVG chart (pure)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sidebyside.cloud.chart import FLAG_COLOR, _nice_ceiling, render_svg
from sidebyside.cloud.perf import CallComparison, CallStats, ComparisonReport

SVG = "{http://www.w3.org/2000/svg}"


def _report() -> ComparisonReport:
    return ComparisonReport(rounds=10, threshold=1.5, calls=(
        CallComparison("token issue", CallStats.of([0.020, 0.030]),
                       CallStats.of([0.040, 0.060]), 1.5),
        CallComparison("list <users>", CallStats.of([0.010]), CallStats.of([0.011]), 1.5),
        CallComparison("list images", CallStats.of([0.010]), CallStats.of([], errors=2), 1.5),
    ))


def test_chart_is_valid_svg_with_one_bar_per_side_and_call() -> None:
    root = ET.fromstring(render_svg(_report()))
    assert root.tag == f"{SVG}svg"
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "bar"]
    assert [(b.get("data-scenario"), b.get("data-side")) for b in bars] == [
        ("token issue", "old"), ("token issue", "new"),
        ("list <users>", "old"), ("list <users>", "new"), ("list images", "old")]
    widths = {(b.get("data-scenario"), b.get("data-side")): float(b.get("width") or 0)
              for b in bars}
    # the new token issue median (50 ms) is twice the old one (25 ms)
    assert widths[("token issue", "new")] == 2 * widths[("token issue", "old")]
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "2.00x" in texts and "1.10x" in texts and "-" in texts
    assert "no successful call" in texts


def test_flagged_calls_are_red() -> None:
    root = ET.fromstring(render_svg(_report()))
    ratios = {t.text: t.get("fill") for t in root.iter(f"{SVG}text") if t.get("class") == "ratio"}
    assert ratios["2.00x"] == FLAG_COLOR and ratios["1.10x"] != FLAG_COLOR


def test_empty_comparison_still_renders() -> None:
    root = ET.fromstring(render_svg(ComparisonReport(rounds=1, threshold=1.5, calls=())))
    assert root.tag == f"{SVG}svg"


def test_axis_ends_on_round_numbers() -> None:
    assert [_nice_ceiling(v) for v in (0, 0.7, 3, 45, 101, 1000)] == [1, 1, 5, 50, 200, 1000]
