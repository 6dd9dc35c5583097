"""Old-vs-new API latency: interleaved timing, percentiles, ratios. Pure.

The calls themselves are passed in (`Callable[[], object]` per side and scenario), so
the timing loop, the statistics and the flags are tested without a cloud; the
openstacksdk scenarios live in `sidebyside.cloud.scenarios`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sidebyside.redact import redact

DEFAULT_THRESHOLD = 1.5
DEFAULT_ROUNDS = 20
SIDES = ("old", "new")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks
    (numpy's default). Raises ValueError on no values or q out of range."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is not within 0..100")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


def ratio(new: float | None, old: float | None) -> float | None:
    """new / old; None when either is missing or old is zero."""
    if new is None or old is None or old <= 0:
        return None
    return new / old


@dataclass(frozen=True)
class CallStats:
    """Latency of one call on one side, in seconds."""

    samples: int
    errors: int
    p50: float | None
    p95: float | None
    max: float | None
    mean: float | None

    @classmethod
    def of(cls, seconds: Sequence[float], errors: int = 0) -> CallStats:
        if not seconds:
            return cls(0, errors, None, None, None, None)
        return cls(len(seconds), errors, percentile(seconds, 50), percentile(seconds, 95),
                   max(seconds), sum(seconds) / len(seconds))

    def to_dict(self) -> dict[str, Any]:
        def ms(value: float | None) -> float | None:
            return None if value is None else round(value * 1000, 2)
        return {"samples": self.samples, "errors": self.errors, "p50_ms": ms(self.p50),
                "p95_ms": ms(self.p95), "max_ms": ms(self.max), "mean_ms": ms(self.mean)}


@dataclass(frozen=True)
class CallComparison:
    scenario: str
    old: CallStats
    new: CallStats
    threshold: float
    first_error: str | None = None

    @property
    def ratio_p50(self) -> float | None:
        return ratio(self.new.p50, self.old.p50)

    @property
    def ratio_p95(self) -> float | None:
        return ratio(self.new.p95, self.old.p95)

    @property
    def slower(self) -> bool:
        """Flagged: the new side's median is over `threshold` times the old one's.
        The median, not p95: one stall on a busy machine must not flag a call."""
        value = self.ratio_p50
        return value is not None and value > self.threshold

    @property
    def failed(self) -> bool:
        return self.old.errors > 0 or self.new.errors > 0

    def to_dict(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 3)
        return {"scenario": self.scenario, "old": self.old.to_dict(),
                "new": self.new.to_dict(), "ratio_p50": rounded(self.ratio_p50),
                "ratio_p95": rounded(self.ratio_p95), "slower": self.slower,
                "failed": self.failed, "first_error": self.first_error}


@dataclass(frozen=True)
class Capacity:
    """What one controller has to give."""

    host: str
    cpus: int | None
    memory_bytes: int | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "cpus": self.cpus, "memory_bytes": self.memory_bytes,
                "memory_gib": None if self.memory_bytes is None
                else round(self.memory_bytes / 2**30, 2), "error": self.error}


def parse_meminfo(text: str) -> int:
    """MemTotal of a /proc/meminfo, in bytes. Raises ValueError without one."""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            fields = line.split()
            unit = fields[2].lower() if len(fields) > 2 else "kb"
            factor = {"kb": 1024, "mb": 2**20, "gb": 2**30, "b": 1}.get(unit, 1024)
            return int(fields[1]) * factor
    raise ValueError("no MemTotal line in /proc/meminfo")


@dataclass(frozen=True)
class ComparisonReport:
    rounds: int
    threshold: float
    calls: tuple[CallComparison, ...]
    capacity: Mapping[str, tuple[Capacity, ...]] = field(default_factory=dict)
    clouds: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def flagged(self) -> list[CallComparison]:
        return [c for c in self.calls if c.slower]

    @property
    def failed(self) -> list[CallComparison]:
        return [c for c in self.calls if c.failed]

    def capacity_total(self, side: str) -> tuple[int | None, int | None]:
        hosts = self.capacity.get(side, ())
        cpus = [h.cpus for h in hosts]
        memory = [h.memory_bytes for h in hosts]
        return (None if not hosts or None in cpus else sum(c or 0 for c in cpus),
                None if not hosts or None in memory else sum(m or 0 for m in memory))

    def to_dict(self) -> dict[str, Any]:
        return {"rounds": self.rounds, "threshold": self.threshold,
                "seconds": round(self.seconds, 1), "clouds": dict(self.clouds),
                "calls": [c.to_dict() for c in self.calls],
                "flagged": [c.scenario for c in self.flagged],
                "failed": [c.scenario for c in self.failed],
                "capacity": {side: [h.to_dict() for h in hosts]
                             for side, hosts in self.capacity.items()}}


Call = Callable[[], object]


@dataclass
class Samples:
    seconds: dict[str, dict[str, list[float]]]
    errors: dict[str, dict[str, int]]
    first_error: dict[str, str]


def run_interleaved(scenarios: Sequence[str], calls: Mapping[str, Mapping[str, Call]], *,
                    rounds: int, warmup: bool = True,
                    clock: Callable[[], float] = time.perf_counter) -> Samples:
    """Time every scenario on both sides, `rounds` times, interleaved.

    Each round runs each scenario on both sides back to back, the side going first
    alternating between rounds, so machine noise (another process, a GC pause) hits
    both sides alike. A warm-up call per scenario and side (connection set-up, token
    fetch) is not measured. A call that raises counts as an error, with the first
    error's message kept; it is not retried. Raises ValueError when rounds < 1.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, not {rounds}")
    seconds: dict[str, dict[str, list[float]]] = {side: {s: [] for s in scenarios}
                                                  for side in SIDES}
    errors: dict[str, dict[str, int]] = {side: {s: 0 for s in scenarios} for side in SIDES}
    first_error: dict[str, str] = {}

    def timed(side: str, scenario: str, measure: bool) -> None:
        started = clock()
        try:
            calls[side][scenario]()
        except Exception as exc:  # noqa: BLE001 - any failure of the call is the finding
            errors[side][scenario] += 1
            first_error.setdefault(scenario, redact(f"{side}: {type(exc).__name__}: {exc}"))
            return
        if measure:
            seconds[side][scenario].append(clock() - started)

    if warmup:
        for scenario in scenarios:
            for side in SIDES:
                timed(side, scenario, measure=False)
    for round_number in range(rounds):
        order = SIDES if round_number % 2 == 0 else tuple(reversed(SIDES))
        for scenario in scenarios:
            for side in order:
                timed(side, scenario, measure=True)
    return Samples(seconds, errors, first_error)


def compare(samples: Samples, scenarios: Sequence[str], *,
            threshold: float = DEFAULT_THRESHOLD) -> list[CallComparison]:
    """Per scenario, both sides' statistics and the ratio flag."""
    return [CallComparison(
        scenario=s,
        old=CallStats.of(samples.seconds["old"][s], samples.errors["old"][s]),
        new=CallStats.of(samples.seconds["new"][s], samples.errors["new"][s]),
        threshold=threshold, first_error=samples.first_error.get(s))
        for s in scenarios]
