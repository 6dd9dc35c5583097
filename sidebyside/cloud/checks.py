"""Smoke results and resource parity: pure data and comparison, no I/O.

A *snapshot* is `{resource type: {id: {field: value}}}` (JSON-able, stored in the
journal by the cutover's `snapshot_resources` step): per resource, the few fields that
are equal across releases by design (names, sizes, checksums, addresses; never
timestamps or links). Sensitive values (credential blobs) are only ever a `digest`.
A snapshot stored by an earlier sbs, `{resource type: sorted ids}`, still loads and
compares by ids. Parity compares two snapshots type by type: ids found on one side
only, and for an id on both sides every field that differs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

CheckStatus = Literal["pass", "fail", "skip"]
Fields = dict[str, Any]
# ids only (the form of an earlier sbs), or id -> the fields compared
TypeEntries = list[str] | dict[str, Fields]
Snapshot = dict[str, TypeEntries]

# The journal facts the cutover's snapshot_resources step records: the snapshot, and
# which run took it on which side counting which services.
SNAPSHOT_FACT = "cutover.snapshot"
SNAPSHOT_META_FACT = "cutover.snapshot.meta"

# Differences listed per type in messages; the full lists stay in the report.
_SHOWN_IDS = 5
_SHOWN_VALUE = 60  # characters of a field value in a message
DIGEST_CHARS = 12  # of a sha256: enough to tell values apart, too little to recover one

# Types an ids-only snapshot (an earlier sbs) never listed: against such a snapshot
# they are not compared (their absence there is no difference).
CONTENT_ONLY_TYPES = frozenset({"credentials", "role_assignments"})

# Fields no user's API call changes in place: a change is a difference even where
# changes are otherwise allowed (the cloud was open for writes since the snapshot).
FIXED_FIELDS: dict[str, frozenset[str]] = {
    "projects": frozenset({"domain_id"}), "users": frozenset({"domain_id"}),
    "groups": frozenset({"domain_id"}), "roles": frozenset({"domain_id"}),
    "images": frozenset({"checksum", "os_hash_value", "size"}),
    "flavors": frozenset({"vcpus", "ram", "disk"}),
    "subnets": frozenset({"cidr", "network_id"}),
    "ports": frozenset({"network_id", "mac_address"}),
}


def digest(value: Any) -> str:
    """`sha256:` and the first DIGEST_CHARS hex digits of the value (a str as is,
    anything else as canonical JSON). The one form a sensitive value takes."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True,
                                                           default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:DIGEST_CHARS]


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
    # why no create/delete check ran on this target ("" when they could: cloud/writes.py)
    no_writes: str = ""

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
                "writes": not self.no_writes, "no_writes": self.no_writes or None,
                "checks": [c.to_dict() for c in self.checks]}


@dataclass(frozen=True)
class FieldChange:
    """One field of one resource that differs between the sides."""

    id: str
    field: str
    left: Any
    right: Any
    allowed: bool = False  # changed since the snapshot with writes open: reported only

    def describe(self, resource: str) -> str:
        return (f"{singular(resource)} {self.id}: {self.field} {render_value(self.left)} "
                f"!= {render_value(self.right)}")

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "field": self.field, "left": self.left, "right": self.right,
                "allowed": self.allowed}


@dataclass(frozen=True)
class TypeParity:
    """One resource type on two sides."""

    resource: str
    left_count: int | None  # None: the type was not listed on that side at all
    right_count: int | None
    only_left: tuple[str, ...] = ()
    only_right: tuple[str, ...] = ()
    added_allowed: bool = False  # ids only on the right are new work, not a difference
    changed: tuple[FieldChange, ...] = ()
    fields: tuple[str, ...] = ()  # the fields compared (none: by ids only)

    @property
    def differing(self) -> tuple[FieldChange, ...]:
        """The changes that are differences (not allowed)."""
        return tuple(c for c in self.changed if not c.allowed)

    @property
    def ok(self) -> bool:
        return (self.left_count is not None and self.right_count is not None
                and not self.only_left and (self.added_allowed or not self.only_right)
                and not self.differing)

    def to_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "left_count": self.left_count,
                "right_count": self.right_count, "only_left": list(self.only_left),
                "only_right": list(self.only_right), "ok": self.ok,
                "fields": list(self.fields), "changed": [c.to_dict() for c in self.changed]}


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
            changed = [c.describe(t.resource) for t in self.types for c in t.changed]
            since = (f"; changed since: {_shown(changed)}" if changed else "")
            if added:
                return (f"parity {self.left} vs {self.right}: {len(self.types)} resource "
                        f"types, nothing missing; created since: {', '.join(added)}{since}")
            content = (", same content" if any(t.fields for t in self.types) else "")
            return (f"parity {self.left} vs {self.right}: {len(self.types)} resource types, "
                    f"same counts and ids{content}{since}")
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
    if diff.differing:
        parts.append("content differs: "
                     + _shown([c.describe(diff.resource) for c in diff.differing]))
    return "; ".join(parts)


def singular(resource: str) -> str:
    """`images` -> `image`, `security_groups` -> `security group`."""
    return resource.removesuffix("s").replace("_", " ")


def render_value(value: Any) -> str:
    """A field value in a message: short, one line (values are digests where secret)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True,
                                                           default=str)
    text = " ".join(str(text).split()) or "''"
    return text if len(text) <= _SHOWN_VALUE else text[:_SHOWN_VALUE - 3] + "..."


def _canonical(value: Any) -> Any:
    """JSON's own form (tuples are lists, keys are strings): a value taken now
    compares equal to the same value read back from the journal."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def normalize_snapshot(raw: Mapping[str, Any]) -> Snapshot:
    """Types in sorted order; per type either sorted, de-duplicated string ids (an
    iterable of ids: the ids-only form) or `{id: {field: value}}` with ids and fields
    sorted and values in JSON's form (a mapping of id to fields)."""
    result: Snapshot = {}
    for kind, entries in sorted(raw.items()):
        if isinstance(entries, Mapping):
            result[str(kind)] = {
                str(i): {str(f): _canonical(v) for f, v in sorted(
                    (fields if isinstance(fields, Mapping) else {}).items())}
                for i, fields in sorted(entries.items(), key=lambda e: str(e[0]))}
        else:
            result[str(kind)] = sorted({str(i) for i in entries})
    return result


def _ids_only(snap: Snapshot) -> bool:
    return any(isinstance(entries, list) for entries in snap.values())


def _fields_of(entries: TypeEntries) -> dict[str, Fields]:
    return {i: {} for i in entries} if isinstance(entries, list) else entries


def _changes(kind: str, left: dict[str, Fields], right: dict[str, Fields],
             allow_changed: bool) -> tuple[tuple[FieldChange, ...], tuple[str, ...]]:
    """Field by field on the ids of both sides; a field is compared where both sides
    have it (an ids-only side has none)."""
    fixed = FIXED_FIELDS.get(kind, frozenset())
    changes: list[FieldChange] = []
    compared: set[str] = set()
    for rid in sorted(set(left) & set(right)):
        shared = set(left[rid]) & set(right[rid])
        compared |= shared
        changes += [FieldChange(rid, name, left[rid][name], right[rid][name],
                                allowed=allow_changed and name not in fixed)
                    for name in sorted(shared) if left[rid][name] != right[rid][name]]
    return tuple(changes), tuple(sorted(compared))


def compare_snapshots(left: Mapping[str, Any], right: Mapping[str, Any],
                      *, left_name: str = "old", right_name: str = "new",
                      ignore: Iterable[str] = (), allow_added: bool = False) -> ParityReport:
    """Type by type, the ids found on one side only, and for the ids on both sides the
    fields that differ. A type listed on one side only is a difference too (its
    service did not answer there), unless it is one an ids-only snapshot never lists
    (CONTENT_ONLY_TYPES) and that side is one. `allow_added`: ids only on the right
    (created since the left was taken) and changed fields other than FIXED_FIELDS are
    reported, not a difference."""
    ignored = set(ignore)
    a, b = normalize_snapshot(left), normalize_snapshot(right)
    types = []
    for kind in sorted((set(a) | set(b)) - ignored):
        left_ids, right_ids = a.get(kind), b.get(kind)
        if left_ids is None or right_ids is None:
            missing_on = a if left_ids is None else b
            if kind in CONTENT_ONLY_TYPES and _ids_only(missing_on):
                continue
            types.append(TypeParity(kind, None if left_ids is None else len(left_ids),
                                    None if right_ids is None else len(right_ids)))
            continue
        left_fields, right_fields = _fields_of(left_ids), _fields_of(right_ids)
        left_set, right_set = set(left_fields), set(right_fields)
        changed, compared = _changes(kind, left_fields, right_fields, allow_added)
        types.append(TypeParity(kind, len(left_ids), len(right_ids),
                                only_left=tuple(sorted(left_set - right_set)),
                                only_right=tuple(sorted(right_set - left_set)),
                                added_allowed=allow_added, changed=changed,
                                fields=compared))
    return ParityReport(left_name, right_name, tuple(types))


def _valid_entries(entries: Any) -> bool:
    if isinstance(entries, list):
        return True
    return isinstance(entries, dict) and all(isinstance(f, dict) for f in entries.values())


def stored_snapshot(value: Any) -> Snapshot | None:
    """The journal fact as a snapshot (either form), or None when absent or
    malformed."""
    if not isinstance(value, dict) or not all(_valid_entries(v) for v in value.values()):
        return None
    return normalize_snapshot(value)


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
