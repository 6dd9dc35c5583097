"""Copy service databases from one MariaDB/MySQL server to another: consistent, parallel,
verified chunk by chunk, resumable.

One run, in order:
  0. identity: source and target are proven two different servers (identity.py);
  1. schema: databases and tables on the target (secondary indexes and foreign keys left
     out, to be built after the data);
  2. snapshot: a global read lock for as long as every worker opens its consistent-
     snapshot transaction and the binlog/GTID position is read (position.py), then
     released;
  3. data: workers take (table, PK range) chunks, biggest tables first; each chunk is
     streamed source -> target in one LOAD DATA transaction, then checksummed on both
     sides (checksum.py) and recorded as verified in the state file;
  4. a table whose chunks are all verified gets its indexes and foreign keys;
  5. views, routines, triggers, events; then the service accounts and their grants;
  6. the schema is compared object by object; only then is the copy marked verified.
A run that finds a state file for the same source, target and databases resumes: chunks
verified before are skipped (re-checksummed first when the source moved since).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sidebyside.db import schema
from sidebyside.db.checksum import both_checksums, chunk_checksum
from sidebyside.db.client import (
    ReadOnlySession,
    Session,
    SnapshotReader,
    StreamedChunk,
    TargetSession,
)
from sidebyside.db.endpoint import DbEndpoint
from sidebyside.db.errors import (
    DataLossRefused,
    PreflightError,
    SbsError,
    verification_failed,
)
from sidebyside.db.identity import require_distinct_servers
from sidebyside.db.position import read_position, same_position
from sidebyside.db.report import (
    CopyReport,
    ProgressCallback,
    ProgressEvent,
    TableReport,
    Throttled,
    no_progress,
)
from sidebyside.db.sql import (
    DEFAULT_ROWS_PER_CHUNK,
    Chunk,
    TableInfo,
    delete_chunk_sql,
    load_data_sql,
    plan_chunks,
    quote_ident,
    split_create_table,
)
from sidebyside.db.state import COPYING, FAILED, MISMATCH, VERIFIED, CopyState

log = logging.getLogger(__name__)

DEFAULT_LOCK_WAIT_SECONDS = 60


@dataclass(frozen=True)
class CopyOptions:
    workers: int = 2
    replace: bool = False
    copy_users: bool = True
    rows_per_chunk: int = DEFAULT_ROWS_PER_CHUNK
    defer_indexes: bool = True
    target_binlog: bool = False     # keep the load out of the target's binlog by default
    lock_wait_seconds: int = DEFAULT_LOCK_WAIT_SECONDS


def copy_databases(source: DbEndpoint, target: DbEndpoint, databases: list[str] | None = None,
                   *, workers: int = 2, replace: bool = False, state_dir: Path,
                   progress: ProgressCallback | None = None, copy_users: bool = True,
                   rows_per_chunk: int = DEFAULT_ROWS_PER_CHUNK, defer_indexes: bool = True,
                   target_binlog: bool = False, source_field: str = "old.database",
                   target_field: str = "new.database") -> CopyReport:
    """Copy `databases` (default: every non-system database) from source to target.

    Before anything is written, the two are proven different servers (identity.py):
    with --replace a copy onto its own source would drop it. `source_field` and
    `target_field` name where the endpoints came from, for that error.

    Returns a CopyReport (status "verified"). Raises:
      SameServerError   source and target are one server or one Galera cluster (exit 2)
      UnreachableError  a server cannot be reached, refuses the login, or dies mid-copy
      InputError        a database does not exist on the source
      PreflightError    the source login lacks a privilege (RELOAD for the snapshot lock,
                        SELECT, SHOW VIEW, TRIGGER, EVENT; SELECT on mysql.* for accounts)
      DataLossRefused   a target database is not empty and replace is False
      VerificationError a checksum, count or definition differs (target marked unusable)
      DbStepFailed      any other failed statement, e.g. the target's disk is full
    In every error case the state file says the copy is not verified; re-running the
    same call resumes it.
    """
    options = CopyOptions(workers=max(1, workers), replace=replace, copy_users=copy_users,
                          rows_per_chunk=rows_per_chunk, defer_indexes=defer_indexes,
                          target_binlog=target_binlog)
    require_distinct_servers(source, target, old_field=source_field, new_field=target_field)
    return _Copy(source, target, databases, options, Path(state_dir),
                 progress or no_progress).run()


class _Copy:
    def __init__(self, source: DbEndpoint, target: DbEndpoint, databases: list[str] | None,
                 options: CopyOptions, state_dir: Path, progress: ProgressCallback) -> None:
        self.source, self.target = source, target
        self.wanted = databases
        self.options = options
        self.state_dir = state_dir
        self.progress = progress
        self.throttled = Throttled(progress)
        self.state = CopyState.load(state_dir)
        self.report = CopyReport(source.url, target.url, [], state_file=str(self.state.path))
        self._report_lock = threading.Lock()
        self._table_reports: dict[str, TableReport] = {}
        self._remaining: dict[str, int] = {}
        self._abort = threading.Event()
        self._errors: list[BaseException] = []

    # ------------------------------------------------------------------ driver
    def run(self) -> CopyReport:
        started = time.monotonic()
        control = ReadOnlySession(self.source, role="source")
        admin = TargetSession(self.target, role="target", bulk_load=True,
                              log_bin=self.options.target_binlog)
        readers: list[SnapshotReader] = []
        began = False
        try:
            databases = schema.resolve_databases(control, self.wanted)
            self.report.databases = databases
            resuming = self.state.matches(self.source.url, self.target.url, databases)
            if not resuming:
                self._refuse_non_empty(admin, databases)
            began = True
            if resuming:
                self.report.resumed = True
                self.state.set_status(COPYING)
            else:
                self.state.begin(self.source.url, self.target.url, databases)
            tables = self._phase("schema", lambda: self._create_schema(control, admin,
                                                                         databases, resuming))
            readers = [SnapshotReader(self.source) for _ in range(self.options.workers)]
            snapshot = self._phase("snapshot", lambda: take_snapshot(
                control, readers, self.options.lock_wait_seconds))
            previous = self.state.data.get("snapshot")
            recheck = resuming and not same_position(previous, snapshot)
            self.state.set_snapshot(snapshot)
            self.report.snapshot = snapshot
            self._phase("plan", lambda: self._plan_chunks(readers[0], tables))
            self._phase("data", lambda: self._copy_data(readers, tables, recheck))
            self._phase("foreign-keys", lambda: self._add_foreign_keys(admin, tables))
            for reader in readers:
                reader.close()
            readers = []
            self._phase("objects", lambda: self._copy_objects(control, admin, databases))
            if self.options.copy_users:
                self._phase("accounts", lambda: self._copy_accounts(control, admin, databases))
            self._phase("verify-schema", lambda: self._verify_schema(control, admin, databases))
            self.state.set_status(VERIFIED)
            self.report.status = VERIFIED
        except SbsError as exc:
            if began:
                kind = MISMATCH if exc.exit_code == 9 else FAILED
                self.state.set_status(kind, exc.message)
            self.report.status = FAILED
            raise
        except BaseException as exc:
            if began:
                self.state.set_status(FAILED, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            for reader in readers:
                reader.close()
            control.close()
            admin.close()
            self.report.seconds = time.monotonic() - started
            self.report.tables = sorted(self._table_reports.values(), key=lambda t: t.table)
        self.progress(ProgressEvent("done", rows=self.report.rows, bytes=self.report.bytes))
        return self.report

    def _phase(self, name: str, action: Callable[[], Any]) -> Any:
        self.progress(ProgressEvent("phase", message=name))
        started = time.monotonic()
        try:
            return action()
        finally:
            self.report.phases[name] = time.monotonic() - started

    # ------------------------------------------------------------------ checks
    def _refuse_non_empty(self, target: TargetSession, databases: list[str]) -> None:
        busy = [d for d in databases if not schema.database_is_empty(target, d)]
        if not busy:
            return
        if not self.options.replace:
            raise DataLossRefused(
                f"target {self.target.address}: database(s) {', '.join(busy)} are not empty",
                hint="pass --replace to drop and overwrite them")
        for database in busy:
            target.execute(f"DROP DATABASE {quote_ident(database)}")

    # ------------------------------------------------------------------ schema
    def _create_schema(self, control: ReadOnlySession, target: TargetSession, databases: list[str],
                       resuming: bool) -> list[TableInfo]:
        tables: list[TableInfo] = []
        for database in databases:
            schema.create_database(control, target, database)
            for table in schema.read_tables(control, database):
                tables.append(table)
                entry = self.state.table(table.key)
                if entry.get("created") and resuming:
                    continue
                create = schema.show_create_table(control, database, table.name)
                deferred: tuple[str, ...] = ()
                if self.options.defer_indexes:
                    split = split_create_table(create)
                    create, deferred = split.create, split.deferred
                schema.create_table(target, database, table.name, create)
                self.state.update_table(table.key, created=True, deferred=list(deferred),
                                        chunks=None, verified={}, post_done=not deferred)
        return tables

    def _plan_chunks(self, reader: SnapshotReader, tables: list[TableInfo]) -> None:
        planned: list[TableInfo] = []
        for table in tables:
            entry = self.state.table(table.key)
            if entry.get("chunks"):
                chunks = tuple(Chunk(c["index"], c["lower"], c["upper"])
                               for c in entry["chunks"])
            elif table.range_column and table.estimated_rows > self.options.rows_per_chunk:
                column = quote_ident(table.range_column)
                row = reader.query(f"SELECT MIN({column}), MAX({column}) FROM "
                                  f"{quote_ident(table.database)}.{quote_ident(table.name)}")
                low, high = (_int_or_none(v) for v in row[0]) if row else (None, None)
                chunks = plan_chunks(low, high, table.estimated_rows,
                                     self.options.rows_per_chunk)
            else:
                chunks = (Chunk(0),)
            self.state.update_table(table.key, chunks=[c.to_dict() for c in chunks])
            planned.append(_with_chunks(table, chunks))
        tables[:] = planned
        self.progress(ProgressEvent("plan", total_rows=sum(t.estimated_rows for t in tables),
                                    total_bytes=sum(t.estimated_bytes for t in tables)))

    # ------------------------------------------------------------------ data
    def _copy_data(self, readers: list[SnapshotReader], tables: list[TableInfo],
                   recheck: bool) -> None:
        tasks: queue.Queue[tuple[TableInfo, Chunk]] = queue.Queue()
        for table in sorted(tables, key=lambda t: (-t.estimated_bytes, t.key)):
            self._remaining[table.key] = len(table.chunks)
            self._table_reports[table.key] = TableReport(table.key, chunks=len(table.chunks))
            for chunk in table.chunks:
                tasks.put((table, chunk))
        threads = [threading.Thread(target=self._worker, args=(reader, tasks, recheck),
                                    name=f"sbs-copy-{i}", daemon=True)
                   for i, reader in enumerate(readers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self._errors:
            first = self._errors[0]
            raise first
        for table in tables:  # tables with nothing left to copy still need their indexes
            self._finish_table_if_done(None, table, force=True)

    def _worker(self, reader: SnapshotReader, tasks: queue.Queue[tuple[TableInfo, Chunk]],
                recheck: bool) -> None:
        target: TargetSession | None = None
        try:
            target = TargetSession(self.target, role="target", bulk_load=True,
                                   log_bin=self.options.target_binlog)
            while not self._abort.is_set():
                try:
                    table, chunk = tasks.get_nowait()
                except queue.Empty:
                    return
                log.debug("chunk %s#%d start", table.key, chunk.index)
                self._copy_chunk(reader, target, table, chunk, recheck)
                self._finish_table_if_done(target, table)
                log.debug("chunk %s#%d done", table.key, chunk.index)
        except BaseException as exc:  # noqa: BLE001 - the driver re-raises the first one
            self._abort.set()
            self._errors.append(exc)
        finally:
            if target is not None:
                target.close()

    def _copy_chunk(self, reader: SnapshotReader, target: TargetSession, table: TableInfo,
                    chunk: Chunk, recheck: bool) -> None:
        started = time.monotonic()
        key = table.key
        report = self._table_reports[key]
        if report.chunks_copied + report.chunks_skipped == 0:
            self.progress(ProgressEvent("table", key, total_rows=table.estimated_rows,
                                        total_bytes=table.estimated_bytes))
        previous = self.state.chunk_verified(key, chunk.index)
        if previous is not None:
            if not recheck:
                self._account(key, rows=int(previous["checksum"][0]), skipped=True,
                              seconds=time.monotonic() - started)
                return
            source_sum, target_sum = both_checksums(reader, target, table, chunk)
            if source_sum == target_sum:
                self.state.mark_chunk(key, chunk.index, source_sum)
                self._account(key, rows=source_sum[0], skipped=True,
                              seconds=time.monotonic() - started)
                return
        # A previous attempt may have committed part of this range before it died.
        if self.report.resumed or previous is not None:
            target.execute(delete_chunk_sql(table, chunk))
        self.state.mark_chunk(key, chunk.index, None)
        streamed: list[StreamedChunk] = []

        def feed(write: Callable[[bytes | memoryview], None]) -> None:
            def sink(piece: memoryview) -> None:
                write(piece)
                self.throttled.data_bytes(key, len(piece))

            streamed.append(reader.stream_chunk(table, chunk, sink))

        rows = target.load_stream(lambda infile: load_data_sql(table, infile), feed)
        # the source's checksum came with the data, from the same scan of its rows
        source_sum = list(streamed[0].checksum)
        target_sum = chunk_checksum(target, table, chunk)
        if source_sum != target_sum:
            raise verification_failed(
                f"{key} rows {chunk.predicate(table.range_column)}: source has "
                f"{source_sum[0]} rows (checksum {source_sum[1]:08x}), target "
                f"{target_sum[0]} (checksum {target_sum[1]:08x}) after copying {rows} rows")
        self.state.mark_chunk(key, chunk.index, source_sum)
        self.throttled.flush(key, rows=source_sum[0])
        self._account(key, rows=source_sum[0], size=streamed[0].size, copied=True,
                      seconds=time.monotonic() - started, report_rows=False)

    def _account(self, key: str, *, rows: int, size: int = 0, copied: bool = False,
                 skipped: bool = False, seconds: float = 0.0, report_rows: bool = True) -> None:
        with self._report_lock:
            report = self._table_reports[key]
            report.rows += rows
            report.bytes += size
            report.chunks_copied += int(copied)
            report.chunks_skipped += int(skipped)
            report.seconds += seconds
        if report_rows and rows:
            self.progress(ProgressEvent("data", key, rows=rows))

    def _finish_table_if_done(self, target: TargetSession | None, table: TableInfo, *,
                              force: bool = False) -> None:
        with self._report_lock:
            if not force:
                self._remaining[table.key] -= 1
                if self._remaining[table.key] > 0:
                    return
            entry = self.state.table(table.key)
            if entry.get("post_done"):
                self._table_reports[table.key].verified = True
                if not force:
                    self.progress(ProgressEvent("table-done", table.key))
                return
        own = target is None
        session = target or TargetSession(self.target, role="target", bulk_load=True,
                                          log_bin=self.options.target_binlog)
        started = time.monotonic()
        try:
            self.progress(ProgressEvent("phase", table.key, message="indexes"))
            schema.add_deferred(session, table.database, table.name,
                                list(entry.get("deferred", [])), indexes_only=True)
        finally:
            if own:
                session.close()
        self.state.update_table(table.key, post_done=True)
        with self._report_lock:
            self._table_reports[table.key].verified = True
            self._table_reports[table.key].index_seconds += time.monotonic() - started
        self.progress(ProgressEvent("table-done", table.key))

    def _add_foreign_keys(self, target: TargetSession, tables: list[TableInfo]) -> None:
        """Every table now has its indexes: add the foreign keys (idempotent)."""
        for table in tables:
            deferred = list(self.state.table(table.key).get("deferred", []))
            if any("FOREIGN KEY" in clause for clause in deferred):
                schema.add_deferred(target, table.database, table.name, deferred,
                                    foreign_only=True)

    # ------------------------------------------------------------- the rest
    def _copy_objects(self, control: ReadOnlySession, target: TargetSession,
                      databases: list[str]) -> None:
        totals: dict[str, int] = {}
        for database in databases:
            objects = schema.read_objects(control, database)
            schema.create_objects(target, objects)
            for kind, count in objects.counts().items():
                totals[kind] = totals.get(kind, 0) + count
        self.report.objects = totals

    def _copy_accounts(self, control: ReadOnlySession, target: TargetSession,
                       databases: list[str]) -> None:
        accounts = schema.service_accounts(control, databases)
        schema.apply_accounts(target, accounts)
        self.report.accounts = [a.name for a in accounts]

    def _verify_schema(self, control: Session, target: Session, databases: list[str]) -> None:
        problems: list[str] = []
        for database in databases:
            problems += schema.compare_schema(control, target, database)
        for key, entry in self.state.data.get("tables", {}).items():
            chunks = entry.get("chunks") or []
            if len(entry.get("verified", {})) != len(chunks):
                problems.append(f"{key}: {len(chunks) - len(entry.get('verified', {}))} "
                                f"chunk(s) not verified")
        if problems:
            raise verification_failed("the copy differs from the source: "
                                      + "; ".join(problems[:20]))


# ---------------------------------------------------------------- snapshot
def take_snapshot(control: ReadOnlySession, readers: list[SnapshotReader],
                  lock_wait_seconds: int = DEFAULT_LOCK_WAIT_SECONDS) -> dict[str, Any]:
    """Open one consistent-snapshot transaction per reader at the same point in time.

    The global read lock is held only while the transactions open and the position is
    read (milliseconds). Raises PreflightError without the RELOAD privilege.
    """
    control.execute(f"SET SESSION lock_wait_timeout = {int(lock_wait_seconds)}")
    started = time.monotonic()
    try:
        control.execute("FLUSH TABLES WITH READ LOCK")
    except PreflightError as exc:
        raise PreflightError(f"{exc.message}: a consistent snapshot needs the RELOAD "
                             f"privilege (FLUSH TABLES WITH READ LOCK)") from None
    try:
        for reader in readers:
            reader.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        position = read_position(control)
    finally:
        control.execute("UNLOCK TABLES")
    position["lock_seconds"] = round(time.monotonic() - started, 4)
    position["taken_at"] = time.time()
    return position


# ---------------------------------------------------------------- chunks
def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _with_chunks(table: TableInfo, chunks: tuple[Chunk, ...]) -> TableInfo:
    from dataclasses import replace

    return replace(table, chunks=chunks)
