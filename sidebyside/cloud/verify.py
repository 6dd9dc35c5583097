"""`sbs verify` and the verification steps: smoke, parity, comparison, in one place.

Connections are made lazily, once per side, and reused by every part of a run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sidebyside.cloud import chart
from sidebyside.cloud.checks import ParityReport, SmokeReport, compare_snapshots
from sidebyside.cloud.connection import (
    CONNECT_RETRY_BUDGET,
    clouds_yaml_of,
    configured_hosts,
    connect,
)
from sidebyside.cloud.perf import (
    DEFAULT_ROUNDS,
    DEFAULT_THRESHOLD,
    Capacity,
    ComparisonReport,
    compare,
    run_interleaved,
)
from sidebyside.cloud.scenarios import host_capacity, scenario_calls
from sidebyside.cloud.smoke import run_smoke, snapshot
from sidebyside.cloud.writes import WriteGuard, write_refusal
from sidebyside.errors import InputError, VerificationError
from sidebyside.inventory import Inventory, normal_address
from sidebyside.redact import redact
from sidebyside.remote.base import Host

SIDE_CHOICES = ("old", "new", "vip")


def cloud_of(inventory: Inventory, side: str) -> str:
    """The clouds.yaml cloud reaching a side. Raises InputError."""
    if side in ("old", "new"):
        return inventory.side(side).cloud
    if side == "vip":
        if not inventory.ha.vip_cloud:
            raise InputError(f"{inventory.source}: ha.vip_cloud is not set: no cloud "
                             "reaches the VIP", hint="set ha.vip_cloud, or use --side old|new")
        return inventory.ha.vip_cloud
    raise InputError(f"side must be one of {', '.join(SIDE_CHOICES)}, not {side!r}")


class Clouds:
    """One authorized connection per side, made on first use."""

    def __init__(self, inventory: Inventory, *, retry_budget: float | None = None) -> None:
        self.inventory = inventory
        self.clouds_yaml = clouds_yaml_of(inventory)
        self.retry_budget = retry_budget
        self._conns: dict[str, Any] = {}

    def __call__(self, side: str) -> Any:
        if side not in self._conns:
            budget = CONNECT_RETRY_BUDGET if self.retry_budget is None else self.retry_budget
            self._conns[side] = connect(cloud_of(self.inventory, side), self.clouds_yaml,
                                        retry_budget=budget)
        return self._conns[side]

    def close(self) -> None:
        for conn in self._conns.values():
            try:
                conn.close()
            except Exception:  # noqa: BLE001, S110 - closing is best effort
                pass
        self._conns.clear()


@dataclass
class VerifyReport:
    side: str
    smoke: SmokeReport | None = None
    parity: ParityReport | None = None
    comparison: ComparisonReport | None = None
    notes: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        found = []
        if self.smoke and not self.smoke.ok:
            found.append(self.smoke.summary())
        if self.parity and not self.parity.ok:
            found.append(self.parity.summary())
        if self.comparison and self.comparison.failed:
            found += [f"comparison: {c.scenario} failed: {c.first_error}"
                      for c in self.comparison.failed]
        return found

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_if_failed(self) -> None:
        """Raises VerificationError listing every failed check and difference."""
        if not self.ok:
            raise VerificationError(redact("\n".join(self.problems)),
                                    hint="see the report for every check")

    def to_dict(self) -> dict[str, Any]:
        return {"side": self.side, "ok": self.ok,
                "smoke": self.smoke.to_dict() if self.smoke else None,
                "parity": self.parity.to_dict() if self.parity else None,
                "comparison": self.comparison.to_dict() if self.comparison else None,
                "notes": self.notes, "files": self.files}


def database_only(inventory: Inventory, target: str,
                  vip_serves: str | None = None) -> dict[str, str]:
    """Service -> the inventory's words for it having no API on `target` (its side's
    `services.<name>.api: false`). Through the VIP, the side it serves; when that is
    not known, only a service database-only on both sides."""
    if target in ("old", "new"):
        sides = [target]
    else:
        sides = [vip_serves] if vip_serves in ("old", "new") else ["old", "new"]
    found = {}
    for service in inventory.ordered_services:
        controls = [inventory.side(side).services.get(service) for side in sides]
        if all(control is not None and not control.api for control in controls):
            fields = " and ".join(f"{side}.services.{service}.api" for side in sides)
            found[service] = f"inventory: {fields} {'is' if len(sides) == 1 else 'are'} false"
    return found


def dashboard_url(inventory: Inventory, target: str) -> str | None:
    """Where horizon answers on `target`: through the VIP `ha.dashboard_url`, on a side
    directly its `services.horizon.url` (None when the inventory does not say)."""
    if target == "vip":
        return inventory.ha.dashboard_url
    control = inventory.side(target).services.get("horizon")
    return control.url if control is not None else None


def write_guard(inventory: Inventory, clouds: Clouds, target: str) -> WriteGuard:
    """Where no create/delete check may go though `target` may be written: the old
    controllers, the hosts the old side's clouds.yaml entry names and, for a side reached
    directly, those of the VIP's (it may serve the old side). Raises InputError."""
    forbidden: dict[str, str] = {}
    for name in inventory.old.controllers:
        forbidden[normal_address(inventory.hosts[name].address)] = f"old controller {name}"
    for host in configured_hosts(inventory.old.cloud, clouds.clouds_yaml):
        forbidden.setdefault(host, f"a host of the old side's cloud {inventory.old.cloud}")
    if target != "vip" and inventory.ha.vip_cloud:
        for host in configured_hosts(inventory.ha.vip_cloud, clouds.clouds_yaml):
            forbidden.setdefault(host, f"a host of the VIP's cloud {inventory.ha.vip_cloud} "
                                       "(it may serve the old side)")
    return WriteGuard(cloud=cloud_of(inventory, target), direct=target != "vip",
                      forbidden_hosts=forbidden)


def smoke_side(inventory: Inventory, clouds: Clouds, side: str,
               services: Sequence[str] | None = None, *, vip_serves: str | None = None,
               vip_takes_writes: bool = False, read_only: bool = False) -> SmokeReport:
    """Smoke of the inventory's services (or of those of `services` it has) on `side`
    (old, new or vip), with each service's create/delete check where
    cloud/writes.py's write_refusal allows it: `vip_serves` and `vip_takes_writes` say
    what the caller knows of the VIP; `read_only` never writes. The report's
    `no_writes` says why none ran.
    Raises InputError or UnreachableError when the side's cloud cannot be used."""
    wanted = [s for s in inventory.ordered_services if services is None or s in services]
    refusal = "read only (--read-only)" if read_only else write_refusal(
        side, vip_serves=vip_serves, vip_takes_writes=vip_takes_writes)
    guard = None if refusal else write_guard(inventory, clouds, side)
    report = run_smoke(clouds(side), wanted, side=side, cloud=cloud_of(inventory, side),
                       database_only=database_only(inventory, side, vip_serves),
                       writes=guard, dashboard_url=dashboard_url(inventory, side))
    return replace(report, no_writes=refusal or "")


def parity_sides(inventory: Inventory, clouds: Clouds, left: str = "old",
                 right: str = "new", *, ignore: Sequence[str] = ()) -> ParityReport:
    """Ids per resource type on two sides now; `ignore` names types not compared.
    Raises VerificationError (a listing failed), InputError, UnreachableError."""
    services = inventory.ordered_services
    return compare_snapshots(snapshot(clouds(left), services), snapshot(clouds(right), services),
                             left_name=left, right_name=right, ignore=ignore)


def parity_with_snapshot(inventory: Inventory, clouds: Clouds, before: Mapping[str, Any],
                         side: str = "vip", services: Sequence[str] | None = None, *,
                         allow_added: bool = False) -> ParityReport:
    """`services`: those the snapshot counted (default: all of the inventory's).
    `allow_added`: resources created since the snapshot are reported, not a
    difference (the cloud is open for writes again); a missing one always is."""
    wanted = [s for s in inventory.ordered_services if services is None or s in services]
    now = snapshot(clouds(side), wanted)
    return compare_snapshots(before, now, left_name="before cutover", right_name=f"{side} now",
                             allow_added=allow_added)


def capacity(inventory: Inventory, host_of: Callable[[str], Host]
             ) -> dict[str, tuple[Capacity, ...]]:
    result: dict[str, tuple[Capacity, ...]] = {}
    for side in ("old", "new"):
        entries = []
        for name in inventory.side(side).controllers:
            try:
                host = host_of(name)
            except Exception as exc:  # noqa: BLE001 - informative only
                entries.append(Capacity(name, None, None, error=str(exc)))
                continue
            entries.append(host_capacity(host))
        result[side] = tuple(entries)
    return result


def compare_sides(inventory: Inventory, clouds: Clouds, *, rounds: int = DEFAULT_ROUNDS,
                  threshold: float = DEFAULT_THRESHOLD,
                  host_of: Callable[[str], Host] | None = None) -> ComparisonReport:
    """The fixed scenarios on old and new, interleaved. Raises InputError (rounds,
    threshold), UnreachableError."""
    if rounds < 1:
        raise InputError(f"--rounds must be at least 1, not {rounds}")
    if threshold <= 1.0:
        raise InputError(f"--threshold must be above 1.0 (a ratio new/old), not {threshold}")
    started = time.monotonic()
    names, calls = scenario_calls(clouds("old"), clouds("new"), inventory.ordered_services)
    samples = run_interleaved(names, calls, rounds=rounds)
    return ComparisonReport(
        rounds=rounds, threshold=threshold, calls=tuple(compare(samples, names,
                                                                threshold=threshold)),
        capacity=capacity(inventory, host_of) if host_of else {},
        clouds={"old": inventory.old.cloud, "new": inventory.new.cloud},
        seconds=time.monotonic() - started)


def run_verify(inventory: Inventory, *, side: str = "vip", parity: bool | None = None,
               before: Mapping[str, Any] | None = None, do_compare: bool = False,
               rounds: int = DEFAULT_ROUNDS, threshold: float = DEFAULT_THRESHOLD,
               host_of: Callable[[str], Host] | None = None,
               clouds: Clouds | None = None,
               snapshot_services: Sequence[str] | None = None,
               vip_serves: str | None = None, vip_takes_writes: bool = False,
               read_only: bool = False) -> VerifyReport:
    """Smoke on `side`, parity, and with do_compare the old-vs-new latency comparison.

    The smoke creates and deletes its own test resources where writes are allowed
    (smoke_side): on `new`; through the VIP only when the caller knows it serves the
    new side and takes writes (`vip_serves`, `vip_takes_writes`); never with
    `read_only`.

    Parity by default: `new` against old now; `vip` against `before` (the snapshot the
    cutover recorded, over `snapshot_services`, the services it counted) when there is
    one; `old` none (the new side may not exist yet).
    Failed checks are in the report, not raised (see `raise_if_failed`). Raises
    InputError or UnreachableError when a cloud cannot be used at all.
    """
    cloud_of(inventory, side)
    own = clouds is None
    clouds = clouds or Clouds(inventory)
    report = VerifyReport(side=side)
    try:
        report.smoke = smoke_side(inventory, clouds, side, vip_serves=vip_serves,
                                  vip_takes_writes=vip_takes_writes, read_only=read_only)
        if report.smoke.no_writes:
            report.notes.append(f"create/delete checks not run: {report.smoke.no_writes}")
        if parity is None:
            parity = side == "new" or (side == "vip" and before is not None)
            if side == "vip" and before is None:
                report.notes.append("no resource snapshot recorded by a cutover: parity "
                                    "through the VIP skipped")
        if parity:
            try:
                if side == "vip":
                    if before is None:
                        raise InputError("no resource snapshot recorded by a cutover to "
                                         "compare the VIP with")
                    # after the cutover: what users created since is theirs, not a
                    # difference; anything of before that is gone is
                    report.parity = parity_with_snapshot(inventory, clouds, before, side,
                                                         services=snapshot_services,
                                                         allow_added=True)
                else:
                    report.parity = parity_sides(inventory, clouds, "old", "new")
            except VerificationError as exc:
                names = ("before cutover", "vip now") if side == "vip" else ("old", "new")
                report.parity = ParityReport(*names, (), error=exc.message)
        if do_compare:
            report.comparison = compare_sides(inventory, clouds, rounds=rounds,
                                              threshold=threshold, host_of=host_of)
    finally:
        if own:
            clouds.close()
    return report


def write_report_files(report: VerifyReport, directory: Path, *, stamp: str | None = None
                       ) -> dict[str, str]:
    """The JSON report, and the SVG chart when there is a comparison, in directory."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
    files: dict[str, str] = {}
    if report.comparison is not None:
        svg = directory / f"verify-{stamp}.svg"
        svg.write_text(chart.render_svg(report.comparison))
        files["chart"] = str(svg)
    path = directory / f"verify-{stamp}.json"
    files["report"] = str(path)
    report.files = files
    path.write_text(redact(json.dumps(report.to_dict(), indent=2, default=str)) + "\n")
    return files
