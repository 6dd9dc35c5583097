"""Verify a copy on its own: schema objects, then per table row counts and chunked CRC32
checksums computed server-side on both sides, at the same time, by primary-key range."""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Any

from sidebyside.db import schema
from sidebyside.db.checksum import chunk_checksum
from sidebyside.db.client import ReadOnlySession, Session
from sidebyside.db.endpoint import DbEndpoint
from sidebyside.db.errors import InputError, verification_failed
from sidebyside.db.report import ProgressCallback, ProgressEvent, VerifyReport, no_progress
from sidebyside.db.sql import DEFAULT_ROWS_PER_CHUNK, Chunk, TableInfo, plan_chunks, quote_ident
from sidebyside.db.state import MISMATCH, VERIFIED, CopyState


def verify_databases(source: DbEndpoint, target: DbEndpoint,
                     databases: list[str] | None = None, *, workers: int = 2,
                     rows_per_chunk: int = DEFAULT_ROWS_PER_CHUNK,
                     state_dir: Path | None = None, raise_on_mismatch: bool = True,
                     progress: ProgressCallback | None = None) -> VerifyReport:
    """Compare `databases` on source and target; return a VerifyReport.

    With `state_dir` the verdict is recorded in the copy's state file (when it is the
    copy of this source, target and databases): a mismatch marks the copy unusable, an
    equal result marks it verified. Raises VerificationError on a difference (unless
    raise_on_mismatch=False), UnreachableError / InputError / PreflightError as
    copy_databases does.
    """
    started = time.monotonic()
    report_progress = progress or no_progress
    control = ReadOnlySession(source, role="source")
    admin = ReadOnlySession(target, role="target")
    try:
        names = schema.resolve_databases(control, databases)
        missing = [d for d in names if d not in schema.list_databases(admin)]
        if missing:
            raise InputError(f"target {target.address}: database(s) {', '.join(missing)} "
                             f"do not exist")
        report = VerifyReport(source.url, target.url, names)
        for database in names:
            report.problems += schema.compare_schema(control, admin, database)
        tables = [t for d in names for t in schema.read_tables(control, d)]
        tables = [_chunked(control, t, rows_per_chunk) for t in tables]
        report_progress(ProgressEvent("plan", total_rows=sum(t.estimated_rows for t in tables),
                                      total_bytes=sum(t.estimated_bytes for t in tables)))
        results = _checksum_all(source, target, tables, max(1, workers), report_progress)
        for table in tables:
            outcome = results[table.key]
            report.tables[table.key] = outcome
            if not outcome["equal"]:
                report.problems.append(
                    f"{table.key}: {len(outcome['mismatched_chunks'])} chunk(s) differ "
                    f"(source {outcome['source_rows']} rows, target {outcome['target_rows']})")
        report.equal = not report.problems
        report.seconds = time.monotonic() - started
    finally:
        control.close()
        admin.close()
    if state_dir is not None:
        state = CopyState.load(Path(state_dir))
        if state.matches(source.url, target.url, names):
            state.set_status(VERIFIED if report.equal else MISMATCH,
                             None if report.equal else "; ".join(report.problems[:5]))
    if not report.equal and raise_on_mismatch:
        raise verification_failed(f"{target.address} differs from {source.address}: "
                                  + "; ".join(report.problems[:20]))
    return report


def _chunked(control: Session, table: TableInfo, rows_per_chunk: int) -> TableInfo:
    from dataclasses import replace

    if not table.range_column or table.estimated_rows <= rows_per_chunk:
        return table
    column = quote_ident(table.range_column)
    row = control.query_one(f"SELECT MIN({column}), MAX({column}) FROM "
                            f"{quote_ident(table.database)}.{quote_ident(table.name)}")
    low, high = (row or (None, None))
    return replace(table, chunks=plan_chunks(None if low is None else int(low),
                                             None if high is None else int(high),
                                             table.estimated_rows, rows_per_chunk))


def _checksum_all(source: DbEndpoint, target: DbEndpoint, tables: list[TableInfo],
                  workers: int, progress: ProgressCallback) -> dict[str, dict[str, Any]]:
    """Workers each hold a source and a target session; per chunk both servers compute
    their checksum at the same time (one on a helper thread)."""
    tasks: queue.Queue[tuple[TableInfo, Chunk]] = queue.Queue()
    for table in sorted(tables, key=lambda t: -t.estimated_bytes):
        for chunk in table.chunks:
            tasks.put((table, chunk))
    results: dict[str, dict[str, Any]] = {
        t.key: {"equal": True, "chunks": len(t.chunks), "source_rows": 0, "target_rows": 0,
                "mismatched_chunks": []} for t in tables}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with ReadOnlySession(source, role="source") as src, \
                    ReadOnlySession(target, role="target") as dst:
                src.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                while not errors:
                    try:
                        table, chunk = tasks.get_nowait()
                    except queue.Empty:
                        return
                    other: dict[str, Any] = {}

                    def on_target(t: TableInfo = table, c: Chunk = chunk,
                                  out: dict[str, Any] = other) -> None:
                        try:
                            out["sum"] = chunk_checksum(dst, t, c)
                        except BaseException as exc:  # noqa: BLE001
                            out["error"] = exc

                    helper = threading.Thread(target=on_target, daemon=True)
                    helper.start()
                    source_sum = chunk_checksum(src, table, chunk)
                    helper.join()
                    if "error" in other:
                        raise other["error"]
                    with lock:
                        entry = results[table.key]
                        entry["source_rows"] += source_sum[0]
                        entry["target_rows"] += other["sum"][0]
                        if source_sum != other["sum"]:
                            entry["equal"] = False
                            entry["mismatched_chunks"].append(chunk.to_dict())
                    progress(ProgressEvent("data", table.key, rows=source_sum[0]))
        except BaseException as exc:  # noqa: BLE001 - re-raised by the caller
            errors.append(exc)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
