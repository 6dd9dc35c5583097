"""Smoke results and resource parity: pure data and comparison, no I/O.

A *snapshot* is `{resource type: sorted ids}` (JSON-able, stored in the journal by the
cutover's `snapshot_resources` step). Parity compares two snapshots type by type and
lists every id found on one side only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

CheckStatus = Literal["pass", "fail", "skip"]
Snapshot = dict[str, list[str]]

# The journal facts the cutover's snapshot_resources step records: the snapshot, and
# which run took it on which side counting which services.
SNAPSHOT_FACT = "cutover.snapshot"
SNAPSHOT_META_FACT = "cutover.snapshot.meta"

# Differences listed per type in messages; the full lists stay in the report.
_SHOWN_IDS = 5


@dataclass(frozen=True)
class Check:
    """One smoke check: which call was made and what came of it."""

    service: str
    name: str
    call: str
    status: CheckStatus
    seconds: float = 0.0
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "check": self.name, "call": self.call,
                "status": self.status, "seconds": round(self.seconds, 3),
                "detail": self.detail}


@dataclass(frozen=True)
class SmokeReport:
    side: str
    cloud: str
    checks: tuple[Check, ...]

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        counts = {s: sum(1 for c in self.checks if c.status == s)
                  for s in ("pass", "fail", "skip")}
        text = (f"smoke on {self.side} (cloud {self.cloud}): {counts['pass']} passed, "
                f"{counts['fail']} failed, {counts['skip']} skipped")
        for check in self.failures:
            text += f"\n  {check.service} {check.name}: `{check.call}` failed: {check.detail}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"side": self.side, "cloud": self.cloud, "ok": self.ok,
                "checks": [c.to_dict() for c in self.checks]}


@dataclass(frozen=True)
class TypeParity:
    """One resource type on two sides."""

    resource: str
    left_count: int | None  # None: the type was not listed on that side at all
    right_count: int | None
    only_left: tuple[str, ...] = ()
    only_right: tuple[str, ...] = ()
    added_allowed: bool = False  # ids only on the right are new work, not a difference

    @property
    def ok(self) -> bool:
        return (self.left_count is not None and self.right_count is not None
                and not self.only_left and (self.added_allowed or not self.only_right))

    def to_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "left_count": self.left_count,
                "right_count": self.right_count, "only_left": list(self.only_left),
                "only_right": list(self.only_right), "ok": self.ok}


@dataclass(frozen=True)
class ParityReport:
    left: str
    right: str
    types: tuple[TypeParity, ...] = field(default_factory=tuple)
    error: str | None = None  # a listing failed: nothing could be compared

    @property
    def differences(self) -> list[TypeParity]:
        return [t for t in self.types if not t.ok]

    @property
    def ok(self) -> bool:
        return not self.differences and self.error is None

    def summary(self) -> str:
        if self.error:
            return f"parity {self.left} vs {self.right}: not compared: {self.error}"
        if self.ok:
            added = [f"{t.resource} +{len(t.only_right)}" for t in self.types if t.only_right]
            if added:
                return (f"parity {self.left} vs {self.right}: {len(self.types)} resource "
                        f"types, nothing missing; created since: {', '.join(added)}")
            return (f"parity {self.left} vs {self.right}: {len(self.types)} resource types, "
                    "same counts and ids")
        lines = [f"parity {self.left} vs {self.right}: {len(self.differences)} of "
                 f"{len(self.types)} resource types differ"]
        for diff in self.differences:
            lines.append(f"  {diff.resource}: {describe_difference(diff, self.left, self.right)}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"left": self.left, "right": self.right, "ok": self.ok, "error": self.error,
                "types": [t.to_dict() for t in self.types]}


def _shown(ids: Sequence[str]) -> str:
    head = ", ".join(ids[:_SHOWN_IDS])
    return head + (f" and {len(ids) - _SHOWN_IDS} more" if len(ids) > _SHOWN_IDS else "")


def describe_difference(diff: TypeParity, left: str, right: str) -> str:
    if diff.left_count is None:
        return f"not listed on {left}"
    if diff.right_count is None:
        return f"not listed on {right}"
    parts = [f"{diff.left_count} on {left}, {diff.right_count} on {right}"]
    if diff.only_left:
        parts.append(f"only on {left}: {_shown(diff.only_left)}")
    if diff.only_right:
        parts.append(f"only on {right}: {_shown(diff.only_right)}")
    return "; ".join(parts)


def normalize_snapshot(raw: Mapping[str, Iterable[str]]) -> Snapshot:
    """Sorted, de-duplicated string ids per type, types in sorted order."""
    return {kind: sorted({str(i) for i in ids}) for kind, ids in sorted(raw.items())}


def compare_snapshots(left: Mapping[str, Iterable[str]], right: Mapping[str, Iterable[str]],
                      *, left_name: str = "old", right_name: str = "new",
                      ignore: Iterable[str] = (), allow_added: bool = False) -> ParityReport:
    """Type by type, the ids found on one side only. A type listed on one side only is
    a difference too (its service did not answer there). `allow_added`: ids only on
    the right (created since the left was taken) are reported, not a difference."""
    ignored = set(ignore)
    a, b = normalize_snapshot(left), normalize_snapshot(right)
    types = []
    for kind in sorted((set(a) | set(b)) - ignored):
        left_ids, right_ids = a.get(kind), b.get(kind)
        if left_ids is None or right_ids is None:
            types.append(TypeParity(kind, None if left_ids is None else len(left_ids),
                                    None if right_ids is None else len(right_ids)))
            continue
        left_set, right_set = set(left_ids), set(right_ids)
        types.append(TypeParity(kind, len(left_ids), len(right_ids),
                                only_left=tuple(sorted(left_set - right_set)),
                                only_right=tuple(sorted(right_set - left_set)),
                                added_allowed=allow_added))
    return ParityReport(left_name, right_name, tuple(types))


def stored_snapshot(value: Any) -> Snapshot | None:
    """The journal fact as a snapshot, or None when absent or malformed."""
    if not isinstance(value, dict) or not all(isinstance(v, list) for v in value.values()):
        return None
    return {str(k): [str(i) for i in v] for k, v in value.items()}


@dataclass(frozen=True)
class RecordedSnapshot:
    """What a cutover recorded: the snapshot (None when none was taken or it is
    malformed) and the services it counted (None when the record does not say)."""

    snapshot: Snapshot | None
    services: list[str] | None


def recorded_snapshot(fact: Callable[[str], Any]) -> RecordedSnapshot:
    """The snapshot a cutover recorded, read through `fact` (a journal's fact lookup:
    key -> stored value or None). Raises nothing: a malformed record reads as absent."""
    meta = fact(SNAPSHOT_META_FACT)
    services = meta.get("services") if isinstance(meta, dict) else None
    return RecordedSnapshot(
        snapshot=stored_snapshot(fact(SNAPSHOT_FACT)),
        services=[str(s) for s in services] if isinstance(services, list) else None)
