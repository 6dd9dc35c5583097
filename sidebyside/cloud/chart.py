"""An SVG chart of the old-vs-new comparison, written by hand (no plotting dependency).

One row per call: the old and the new side's median as bars, a whisker to p95, the
ratio at the right end, red when the call is flagged slower. Pure: returns text.
"""

from __future__ import annotations

from collections.abc import Callable
from xml.sax.saxutils import escape

from sidebyside.cloud.perf import CallComparison, ComparisonReport

COLORS = {"old": "#5b8bd0", "new": "#e8913a"}
FLAG_COLOR = "#c62828"
_LABEL_WIDTH = 150
_PLOT_WIDTH = 480
_RATIO_WIDTH = 90
_BAR = 12
_ROW = 2 * _BAR + 14
_TOP = 56
_BOTTOM = 40


def _nice_ceiling(value: float) -> float:
    """A round axis end at or above value (1, 2, 5 x a power of ten)."""
    if value <= 0:
        return 1.0
    power = 1.0
    while power * 10 <= value:
        power *= 10
    while power > value:
        power /= 10
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _fmt_ms(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def render_svg(report: ComparisonReport, *, title: str = "API latency, old vs new") -> str:
    """The chart as a standalone SVG document."""
    calls = list(report.calls)
    longest = max((c.p95 or 0.0 for call in calls for c in (call.old, call.new)),
                  default=0.0) * 1000
    axis_end = _nice_ceiling(longest)
    width = _LABEL_WIDTH + _PLOT_WIDTH + _RATIO_WIDTH
    height = _TOP + max(1, len(calls)) * _ROW + _BOTTOM

    def x_of(ms: float) -> float:
        return _LABEL_WIDTH + _PLOT_WIDTH * min(ms, axis_end) / axis_end

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="20" font-size="15" font-weight="bold">{escape(title)}</text>',
        f'<text x="10" y="38" fill="#555">median bars, whisker to p95, {report.rounds} '
        f'rounds interleaved; ratio new/old of the median, flagged over '
        f'{report.threshold:g}x</text>',
    ]
    for n, side in enumerate(("old", "new")):
        x = _LABEL_WIDTH + _PLOT_WIDTH - 140 + n * 70
        parts.append(f'<rect x="{x}" y="{_TOP - 14}" width="10" height="10" '
                     f'fill="{COLORS[side]}"/>')
        parts.append(f'<text x="{x + 14}" y="{_TOP - 5}">{side}</text>')
    for tick in range(5):
        ms = axis_end * tick / 4
        tick_x = x_of(ms)
        parts.append(f'<line x1="{tick_x:.1f}" y1="{_TOP}" x2="{tick_x:.1f}" '
                     f'y2="{height - _BOTTOM}" stroke="#ddd"/>')
        parts.append(f'<text x="{tick_x:.1f}" y="{height - _BOTTOM + 15}" '
                     f'text-anchor="middle" fill="#555">{_fmt_ms(ms)}</text>')
    parts.append(f'<text x="{_LABEL_WIDTH + _PLOT_WIDTH / 2}" y="{height - 8}" '
                 f'text-anchor="middle" fill="#555">milliseconds</text>')
    for row, call in enumerate(calls):
        parts += _row(call, _TOP + row * _ROW + 6, x_of)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _row(call: CallComparison, y: float, x_of: Callable[[float], float]) -> list[str]:
    color = FLAG_COLOR if call.slower else "#222"
    parts = [f'<text x="{_LABEL_WIDTH - 8}" y="{y + _BAR + 4}" text-anchor="end" '
             f'fill="{color}">{escape(call.scenario)}</text>']
    for n, side in enumerate(("old", "new")):
        stats = call.old if side == "old" else call.new
        top = y + n * _BAR
        if stats.p50 is None:
            parts.append(f'<text x="{_LABEL_WIDTH + 4}" y="{top + _BAR - 2}" '
                         f'fill="{FLAG_COLOR}" class="no-data" data-side="{side}">'
                         f'no successful call</text>')
            continue
        end = x_of(stats.p50 * 1000)
        parts.append(f'<rect class="bar" data-side="{side}" '
                     f'data-scenario="{escape(call.scenario)}" x="{_LABEL_WIDTH}" '
                     f'y="{top:.1f}" width="{end - _LABEL_WIDTH:.1f}" '
                     f'height="{_BAR - 2}" fill="{COLORS[side]}"/>')
        if stats.p95 is not None:
            whisker = x_of(stats.p95 * 1000)
            middle = top + (_BAR - 2) / 2
            parts.append(f'<line x1="{end:.1f}" y1="{middle:.1f}" x2="{whisker:.1f}" '
                         f'y2="{middle:.1f}" stroke="#333"/>')
            parts.append(f'<line x1="{whisker:.1f}" y1="{top + 1:.1f}" x2="{whisker:.1f}" '
                         f'y2="{top + _BAR - 3:.1f}" stroke="#333"/>')
    value = call.ratio_p50
    label = "-" if value is None else f"{value:.2f}x"
    weight = ' font-weight="bold"' if call.slower else ""
    parts.append(f'<text class="ratio" x="{_LABEL_WIDTH + _PLOT_WIDTH + 10}" '
                 f'y="{y + _BAR + 4}" fill="{color}"{weight}>{label}</text>')
    return parts
