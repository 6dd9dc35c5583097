"""Database steps: backup, copy, the cutover position, and rollback's data checks.

The old database is only ever read here: every call against it goes through the
db package's read-only sessions.
"""

from __future__ import annotations

import functools
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sidebyside import db
from sidebyside.actions.context import ActionContext
from sidebyside.config import backup as config_backup
from sidebyside.db.backup import backup, check_manifest, restore_test
from sidebyside.db.position import changes_since, record_position
from sidebyside.db.report import ProgressEvent
from sidebyside.engine.executor import Action, StepContext
from sidebyside.errors import DataLossRefused, VerificationError
from sidebyside.plan.model import Step
from sidebyside.services.catalog import background_writes_of

POSITION_NEW = "cutover.position.new"
POSITION_OLD = "cutover.position.old"


def current_position(ctx: StepContext, key: str) -> dict[str, Any] | None:
    """The position fact `key` when the latest cutover run took it, else None.

    Facts outlive runs: after a rolled-back cutover the cloud lives on (the old side
    takes writes), and a later cutover that stops before taking its own position must
    not be judged against the earlier one's.
    """
    position = ctx.fact(key)
    latest = ctx.journal.latest_run("cutover")
    if position is None or latest is None:
        return position  # type: ignore[no-any-return]
    taken_at = position.get("taken_at")
    if taken_at is not None and float(taken_at) < latest.started:
        ctx.log(f"{key} was taken before the latest cutover (run {latest.id}) started, "
                "by an earlier one: ignored")
        return None
    return position  # type: ignore[no-any-return]


def copy_state_dir(state_dir: Path, step: Step, run_id: int) -> Path:
    """One copy state per phase and run: a resumed step resumes its own copy."""
    phase = step.id.split(".", 1)[0]
    return state_dir / "copies" / f"{phase}-run{run_id}"


class _DataAction:
    def __init__(self, context: ActionContext) -> None:
        self.inventory = context.inventory
        self.state_dir = context.state_dir

    def old(self) -> db.DbEndpoint:
        return db.endpoint_from_inventory(self.inventory.old.database)

    def new(self) -> db.DbEndpoint:
        return db.endpoint_from_inventory(self.inventory.new.database)


def progress_logger(ctx: StepContext) -> Callable[[ProgressEvent], None]:
    """Copy progress as journal lines: one per table done and per phase."""
    started = time.monotonic()

    def on_event(event: ProgressEvent) -> None:
        if event.kind == "plan":
            ctx.log(f"copying {event.total_rows} rows, {event.total_bytes / 1e6:.1f} MB")
        elif event.kind == "phase":
            ctx.log(f"phase: {event.message}")
        elif event.kind == "table-done":
            ctx.log(f"{event.table}: {event.rows} rows copied "
                    f"({time.monotonic() - started:.1f}s)")
    return on_event


class BackupAction(_DataAction):
    """`backup`: compressed dumps + sha256 manifest, then a restore test; and every
    old controller's service configs and key repositories (only read), in their own
    sha256 manifest under configs/, verified and restore-tested too."""

    def _dest(self, ctx: StepContext) -> Path:
        return self.state_dir / "backups" / f"run{ctx.run_id}"

    def _configs_fact(self, ctx: StepContext) -> str:
        return f"backup.run{ctx.run_id}.configs.manifest_sha256"

    def __init__(self, context: ActionContext) -> None:
        super().__init__(context)
        self.hosts = context.hosts  # the command's, closed when the command ends

    def _backup_configs(self, dest: Path) -> dict[str, Any]:
        inv = self.inventory
        sources = [config_backup.Source(name, self.hosts(name), inv.hosts[name].root)
                   for name in inv.old.controllers]
        return config_backup.backup_configs(sources, inv.ordered_services, dest)

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        dest = self._dest(ctx)
        if dest.exists():  # a half-written backup from a killed attempt: start afresh
            for path in sorted(dest.rglob("*"), reverse=True):
                path.unlink() if path.is_file() or path.is_symlink() else path.rmdir()
        manifest = backup(self.old(), list(step.params["databases"]), dest)
        ctx.log(f"backup written to {dest}")
        check_manifest(dest)
        result: dict[str, Any] = {"path": str(dest), "files": len(manifest.get("files", []))}
        configs = self._backup_configs(dest)
        digest = config_backup.manifest_sha256(dest)
        ctx.set_fact(self._configs_fact(ctx), digest)
        config_backup.check_config_backup(dest, expected_manifest_sha256=digest)
        config_files = sum(1 for e in configs["entries"] if "sha256" in e)
        ctx.log(f"configs and key repositories of {', '.join(configs['controllers'])}: "
                f"{config_files} files, sha256 verified")
        result["configs"] = {"files": config_files, "controllers": configs["controllers"],
                             "manifest_sha256": digest}
        if self.state_dir and step.params.get("restore_test", True):
            report = restore_test(dest, scratch_dir=self.state_dir / "restore-test")
            ctx.log(f"restore test: {report.get('tables')} tables, {report.get('rows')} rows "
                    "equal to the manifest")
            result["restore_test"] = report
            restored = config_backup.restore_test(dest,
                                                  scratch_dir=self.state_dir / "restore-test")
            ctx.log(f"restore test: {restored['files']} config and key files equal to the "
                    "manifest")
            result["configs"]["restore_test"] = restored
        return result

    def verify(self, step: Step, ctx: StepContext) -> bool:
        dest = self._dest(ctx)
        if not (dest / "manifest.json").exists():
            return False
        digest = ctx.fact(self._configs_fact(ctx))
        if digest is None:
            return False  # taken before configs were backed up, or cut short
        try:
            check_manifest(dest)
            config_backup.check_config_backup(dest, expected_manifest_sha256=digest)
        except VerificationError:
            return False
        return True


class CopyAction(_DataAction):
    """`copy_databases`: consistent, verified copy old -> new (resumes on re-run)."""

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        report = db.copy_databases(
            self.old(), self.new(), list(step.params["databases"]),
            replace=bool(step.params.get("replace")),
            state_dir=copy_state_dir(self.state_dir, step, ctx.run_id),
            progress=progress_logger(ctx))
        summary = report.to_dict()
        ctx.log(f"copied and verified {report.rows} rows, {report.bytes / 1e6:.1f} MB")
        return summary

    def verify(self, step: Step, ctx: StepContext) -> bool:
        return db.copy_is_verified(copy_state_dir(self.state_dir, step, ctx.run_id),
                                   list(step.params["databases"]))


def requires_verified_copy(
        action: Callable[[ActionContext], Action]) -> Callable[[ActionContext], Action]:
    """Marks, in the table of actions, one that writes the copied databases (the
    db_sync chains): built wrapped in RequireVerifiedCopy."""

    def build(context: ActionContext) -> Action:
        return RequireVerifiedCopy(action(context), context.state_dir)
    # named and documented as the action it wraps; inspect.unwrap(build) is that class
    return functools.update_wrapper(build, action, updated=())


class RequireVerifiedCopy:
    """Wraps an action that writes the copied databases (db_sync): it refuses to run
    unless this phase's copy is recorded as verified."""

    def __init__(self, inner: Any, state_dir: Path) -> None:
        self.inner = inner
        self.state_dir = state_dir

    def _check(self, step: Step, ctx: StepContext) -> None:
        copy_step = "prepare.copy-databases" if step.id.startswith("prepare.") \
            else "cutover.final-copy"
        probe = Step(id=copy_step, action="copy_databases", title="", changes=step.changes)
        db.require_verified(copy_state_dir(self.state_dir, probe, ctx.run_id))

    def run(self, step: Step, ctx: StepContext) -> Any:
        self._check(step, ctx)
        return self.inner.run(step, ctx)

    def verify(self, step: Step, ctx: StepContext) -> bool:
        verify = getattr(self.inner, "verify", None)
        return bool(verify and verify(step, ctx))


class RecordPositionAction(_DataAction):
    """`record_position`: where the new databases stand just before traffic moves,
    and the old databases' checksums (rollback proves them unchanged).

    `params.sides` (default both): the read-only window records the old side before the
    final copy (the cutover then proves the old side unchanged before it switches) and
    the new side just before the switch."""

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        databases = list(step.params["databases"])
        sides = list(step.params.get("sides", ["new", "old"]))
        result: dict[str, Any] = {"sides": sides}
        if "new" in sides:
            # the new side's own processes keep writing (heartbeats, service records):
            # recorded so rollback tells them from a user's writes
            new_position = record_position(self.new(), databases,
                                           background=background_writes_of(databases))
            ctx.set_fact(POSITION_NEW, new_position)
            ctx.log(f"new side: {len(new_position['tables'])} tables, binlog "
                    f"{new_position.get('binlog_file')}:{new_position.get('binlog_pos')}")
            result.update({"tables": len(new_position["tables"]),
                           "binlog_file": new_position.get("binlog_file"),
                           "binlog_pos": new_position.get("binlog_pos"),
                           "gtid": new_position.get("gtid")})
        if "old" in sides:
            # the old services keep serving reads in the read-only window, and their
            # processes keep beating: recorded so the cutover tells those from a user's
            old_position = record_position(self.old(), databases,
                                           background=background_writes_of(databases))
            ctx.set_fact(POSITION_OLD, old_position)
            ctx.log(f"old side: {len(old_position['tables'])} tables checksummed")
            result["old_tables"] = len(old_position["tables"])
        return result


def describe_changes(changes: dict[str, Any]) -> list[str]:
    lines = []
    for table, entry in sorted(changes.get("tables", {}).items()):
        status = entry.get("status", "changed")
        if status in ("created", "dropped"):
            lines.append(f"{table}: table {status}")
            continue
        parts = []
        if "rows_then" in entry and "rows_now" in entry:
            parts.append(f"rows {entry['rows_then']} -> {entry['rows_now']}")
        if entry.get("rows_added_after_max_pk"):
            parts.append(f"{entry['rows_added_after_max_pk']} new rows")
        if entry.get("content_changed"):
            parts.append("content changed")
        if "background" in entry and not entry["background"]:
            parts.append(f"not only its services' background writes: {entry['reason']}")
        lines.append(f"{table}: {', '.join(parts) or status}")
    return lines


def split_background(changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """changes_since()'s tables as (only their services' background writes, the rest:
    a user's writes). Pure."""
    tables = changes["tables"].items()
    return ({t: e for t, e in tables if e.get("background")},
            {t: e for t, e in tables if not e.get("background")})


def background_summary(background: dict[str, Any]) -> str:
    """'table reason; ...' of the background-only tables, in order. Pure."""
    return "; ".join(f"{table} {entry['reason']}" for table, entry in sorted(background.items()))


class ReportNewWritesAction(_DataAction):
    """`report_new_writes`: what the new side took since cutover; export it; refuse
    to drop it unless the operator accepted the loss. Its services' own background
    writes (heartbeats, service records: the catalog's `background_writes`, recorded
    with the cutover position) are logged, not refused: they are no user's data."""

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        position = current_position(ctx, POSITION_NEW)
        if position is None:
            ctx.log("no position recorded by this cutover: the new side never took traffic")
            return {"changed": False, "tables": {}}
        changes = changes_since(self.new(), position)
        if not changes["changed"]:
            ctx.log("the new side took no writes since cutover")
            return {"changed": False, "tables": {}}
        background, user_writes = split_background(changes)
        if background:
            ctx.log("background writes of the new side's services since cutover, not user "
                    "data: " + background_summary(background))
        if not user_writes:
            ctx.log("the new side took no user writes since cutover")
            return {"changed": False, "tables": {}, "background": background}
        lines = describe_changes({"tables": user_writes})
        for line in lines:
            ctx.log(f"written on the new side since cutover: {line}")
        changed_dbs = sorted({t.split(".", 1)[0] for t in user_writes})
        exports = self.state_dir / "rollback-exports"
        exports.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(exports, 0o700)  # the exports are rows of the cloud's databases
        export = Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=exports))
        backup(self.new(), changed_dbs, export)
        ctx.log(f"exported {', '.join(changed_dbs)} from the new side to {export}")
        if not ctx.options.get("accept_data_loss"):
            raise DataLossRefused(
                "the new side took writes since cutover that rollback would drop:\n"
                + "\n".join(lines) + f"\nthey are exported to {export}",
                hint="replay them on the old side after rollback, or re-run with "
                     "--accept-data-loss")
        return {"changed": True, "tables": user_writes, "background": background,
                "export": str(export)}


class VerifyOldUntouchedAction(_DataAction):
    """`verify_old_untouched`: the old databases hold nothing written since the
    cutover's position but their own services' background writes (the old services
    answer reads until the switch; their heartbeats are no user's data, and the new
    side's services write their own)."""

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        position = current_position(ctx, POSITION_OLD)
        frozen = step.params.get("since") == "freeze"
        if position is None and frozen:
            raise VerificationError(
                "no checksum of the old databases taken by this cutover: cannot prove no "
                "write reached them during the read-only window",
                hint="`sbs cutover --restart`, or `sbs rollback`")
        if position is None:
            ctx.log("no position recorded by this cutover (it stopped before recording "
                    "one): nothing to compare the old databases with")
            return {"checked": False}
        changes = changes_since(self.old(), position)
        background, user_writes = split_background(changes)
        described = "; ".join(describe_changes({"tables": user_writes}))
        if user_writes and frozen:
            raise VerificationError(
                "writes reached the old databases during the read-only window, after the "
                "final copy's position: " + described
                + "; the new side would miss them, so traffic was not switched",
                hint="find what writes (an operation still in progress? keystone lockout "
                     "or inactivity tracking with allow_token_issue?), stop it, then "
                     "`sbs cutover --restart` or `sbs rollback`")
        if user_writes:
            raise VerificationError(
                "the old databases changed since cutover, though sbs never writes them: "
                + described,
                hint="something else wrote the old database: investigate before starting "
                     "the old services")
        if background:
            ctx.log("the old services' own background writes since the position, no "
                    "user's data: " + background_summary(background))
        ctx.log(f"old databases hold no user write since the final copy's position "
                f"({len(position['tables'])} tables compared)")
        return {"checked": True, "tables": len(position["tables"]),
                "background": sorted(background)}
