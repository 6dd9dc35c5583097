"""The executor's verification steps: snapshot_resources, verify_side, verify_vip.

Each step opens its own connections (a cutover spans minutes; tokens and sockets of
an earlier step are not reused) and closes them before returning.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sidebyside.actions.context import ActionContext
from sidebyside.cloud.checks import (
    SNAPSHOT_FACT,
    SNAPSHOT_META_FACT,
    ParityReport,
    SmokeReport,
    stored_snapshot,
)
from sidebyside.cloud.smoke import snapshot
from sidebyside.cloud.verify import (
    Clouds,
    VerifyReport,
    cloud_of,
    parity_sides,
    parity_with_snapshot,
    smoke_side,
)
from sidebyside.engine.executor import StepContext
from sidebyside.errors import InputError, SbsError, VerificationError
from sidebyside.inventory import Inventory
from sidebyside.plan.model import Step

CloudsFactory = Callable[[Inventory], Clouds]


def _log_smoke(ctx: StepContext, smoke: SmokeReport) -> None:
    for check in smoke.checks:
        ctx.log(f"{check.status:4} {check.service} {check.name}: {check.detail}"
                + (f" (`{check.call}`)" if check.status == "fail" else "")
                + (f" [{check.seconds:.1f}s]" if check.seconds >= 0.05 else ""))
    if smoke.no_writes:
        ctx.log(f"create/delete checks not run: {smoke.no_writes}")


def _log_parity(ctx: StepContext, parity: ParityReport) -> None:
    for line in parity.summary().splitlines():
        ctx.log(line.strip())


def _finish(report: VerifyReport, ctx: StepContext) -> dict[str, Any]:
    """The step's result; raises VerificationError listing what failed."""
    for note in report.notes:
        ctx.log(note)
    report.raise_if_failed()
    result: dict[str, Any] = {"side": report.side,
                              "checks": len(report.smoke.checks) if report.smoke else 0}
    if report.parity is not None:
        result["parity_types"] = len(report.parity.types)
    return result


class _CloudAction:
    """`clouds` opens the connections of one step (a test's stand-in replaces it)."""

    def __init__(self, context: ActionContext, *, clouds: CloudsFactory = Clouds) -> None:
        self.inventory = context.inventory
        self._clouds = clouds


class SnapshotResourcesAction(_CloudAction):
    """Every resource per type through the VIP, by id with the fields compared across
    releases (cloud/checks.py), stored as the fact `cutover.snapshot`."""

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any] | None:
        side = str(step.params.get("side") or ("vip" if self.inventory.ha.vip_cloud
                                                 else "old"))
        clouds = self._clouds(self.inventory)
        services = [s for s in self.inventory.ordered_services
                    if "services" not in step.params or s in step.params["services"]]
        try:
            taken = snapshot(clouds(side), services)
        except SbsError as exc:
            earlier = self._earlier_cutover_snapshot(ctx)
            if earlier is None:
                raise
            run_id, taken = earlier
            ctx.log(f"the VIP does not answer ({exc.message}): cutover run {run_id} already "
                    "drained and stopped the old side and was not rolled back, so its "
                    "snapshot stands")
            return {"counts": {kind: len(ids) for kind, ids in taken.items()},
                    "reused_from_run": run_id}
        finally:
            clouds.close()
        ctx.set_fact(SNAPSHOT_FACT, taken)
        ctx.set_fact(SNAPSHOT_META_FACT, {"run_id": ctx.run_id, "side": side,
                                          "services": services,
                                          "cloud": cloud_of(self.inventory, side),
                                          "taken": time.time()})
        counts = {kind: len(ids) for kind, ids in taken.items()}
        ctx.log(f"snapshot through {cloud_of(self.inventory, side)}: "
                + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
        return {"counts": counts}

    @staticmethod
    def _earlier_cutover_snapshot(ctx: StepContext) -> tuple[int, Any] | None:
        """The snapshot of an earlier cutover run that was not rolled back (a cutover
        re-run with --restart after it stopped the old services)."""
        from sidebyside.engine.journal import RunStatus

        meta = ctx.fact(SNAPSHOT_META_FACT)
        taken = stored_snapshot(ctx.fact(SNAPSHOT_FACT))
        if not isinstance(meta, dict) or taken is None or meta.get("run_id") == ctx.run_id:
            return None
        try:
            run = ctx.journal.run(int(meta["run_id"]))
        except (KeyError, TypeError, ValueError):
            return None
        if run.command != "cutover" or run.status == RunStatus.ROLLED_BACK:
            return None
        return run.id, taken

    def verify(self, step: Step, ctx: StepContext) -> bool:
        """Already taken in this run (a crash after storing it)."""
        meta = ctx.fact(SNAPSHOT_META_FACT)
        return (isinstance(meta, dict) and meta.get("run_id") == ctx.run_id
                and stored_snapshot(ctx.fact(SNAPSHOT_FACT)) is not None)


class VerifySideAction(_CloudAction):
    """Smoke on one side directly; without `smoke_only`, parity of new against old.

    `ignore` (a list of resource types, e.g. ["servers", "ports"]) leaves out types
    that a live old cloud keeps changing between the copy and this check.
    `services` limits the smoke to those services: a service validates tokens with
    the keystone its own config names (usually through the VIP), so before keystone's
    traffic is switched to this side only keystone itself may be checkable.
    On the new side the smoke also creates and deletes each service's own test
    resource (cloud/writes.py decides from the side; never on the old side).
    """

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any] | None:
        side = str(step.params.get("side", "new"))
        if side not in ("old", "new"):
            raise InputError(f"step {step.id}: side must be old or new, not {side!r}")
        clouds = self._clouds(self.inventory)
        report = VerifyReport(side=side)
        try:
            services = step.params.get("services")
            report.smoke = smoke_side(self.inventory, clouds, side,
                                      None if services is None else [str(s) for s in services])
            _log_smoke(ctx, report.smoke)
            if not step.params.get("smoke_only", False):
                try:
                    report.parity = parity_sides(
                        self.inventory, clouds, "old", "new",
                        ignore=[str(t) for t in step.params.get("ignore", ())])
                except VerificationError as exc:
                    report.parity = ParityReport("old", "new", (), error=exc.message)
                _log_parity(ctx, report.parity)
        finally:
            clouds.close()
        return _finish(report, ctx)


class VerifyVipAction(_CloudAction):
    """Smoke through the VIP and parity against the snapshot the cutover took.

    `expect` (new or old) names the side that should be answering; it is logged: the
    API cannot tell the sides apart (same data, same ids), HAProxy's state can.
    `allow_added`: the cloud already takes writes (no read-only window), so resources
    created since the snapshot are reported, not a difference; a missing one fails.
    The smoke creates and deletes each service's own test resource only when the VIP
    serves the new side (`expect: new`) and takes writes (`allow_added`): never in a
    read-only window (HAProxy refuses writes, and a failed verification must roll back
    with nothing written), never after a rollback (cloud/writes.py write_refusal).
    """

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any] | None:
        expect = str(step.params.get("expect", "new"))
        clouds = self._clouds(self.inventory)
        report = VerifyReport(side="vip")
        try:
            report.smoke = smoke_side(
                self.inventory, clouds, "vip", vip_serves=expect,
                vip_takes_writes=bool(step.params.get("allow_added", False)))
            _log_smoke(ctx, report.smoke)
            before = stored_snapshot(ctx.fact(SNAPSHOT_FACT))
            live = [s for s in self.inventory.ordered_services
                    if s in step.params.get("live_old", [])]
            meta = ctx.fact(SNAPSHOT_META_FACT)
            snapshotted = meta.get("services") if isinstance(meta, dict) else None
            compared = None if snapshotted is None else [
                s for s in self.inventory.ordered_services if s in snapshotted or s in live]
            if live:
                # still answering on the old side, with writes refused: counted now
                started = time.monotonic()
                counted = snapshot(clouds("old"), live)
                ctx.log(f"old side counted in {time.monotonic() - started:.1f}s")
                ctx.log("counted on the old side now: "
                        + ", ".join(f"{len(ids)} {kind}" for kind, ids in counted.items()))
                before = {**(before or {}), **counted}
                # what the cloud held when traffic moved, for `sbs verify --side vip`
                # and rollback's verification later
                ctx.set_fact(SNAPSHOT_FACT, before)
                ctx.set_fact(SNAPSHOT_META_FACT, {
                    **(meta if isinstance(meta, dict) else {}),
                    "services": compared})
            if before is None:
                report.notes.append("no resource snapshot recorded: parity skipped")
            elif compared == []:
                report.notes.append("the cutover counted no service (its read-only window "
                                    "kept them all answering): parity skipped")
            else:
                try:
                    report.parity = parity_with_snapshot(
                        self.inventory, clouds, before, services=compared,
                        allow_added=bool(step.params.get("allow_added", False)))
                except VerificationError as exc:
                    report.parity = ParityReport("before cutover", "vip now", (),
                                                 error=exc.message)
                _log_parity(ctx, report.parity)
        finally:
            clouds.close()
        result = _finish(report, ctx)
        result["expect"] = expect
        return result
