"""The only module of sidebyside.db that talks to servers (adapter).

Everything goes through PyMySQL (pure Python: it works wherever sbs runs):

* `Session`: control statements, schema, grants, checksums, and the target's
  `LOAD DATA LOCAL INFILE`, which PyMySQL streams from any readable path: we give it
  the read end of a pipe (/dev/fd/N), so nothing touches the disk.
* `SnapshotReader`: one per copy worker, holding the shared consistent-snapshot
  transaction. The *source server* formats every row as LOAD DATA text and joins a
  key-range piece of rows into one value (sql.select_piece_sql), so the client
  moves a few large values per chunk and never decodes a row; the same statement
  returns the piece's checksum. Measured against the `mariadb` command-line client
  relaying rows, and against per-row fetching with PyMySQL and mysql-connector-python
  (bench/results/db-copy.md), this costs the client about a sixth of the CPU.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pymysql.cursors
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_fixed

from sidebyside.db.endpoint import DbEndpoint
from sidebyside.db.errors import DbStepFailed, UnreachableError, error_for_code
from sidebyside.db.sql import (
    EMPTY_CHECKSUM,
    Chunk,
    TableInfo,
    as_checksum,
    average_row_bytes,
    checksum_sql,
    combine_checksums,
    plan_pieces,
    qualified,
    quote_ident,
    select_lines_sql,
    select_piece_sql,
)
from sidebyside.redact import redact

PIPE_SIZE = 1 << 20
# The source sends a chunk in values of about this size (bench/results/db-copy.md),
# none longer than the limit: memory stays bounded whatever the table.
PIECE_BYTES = 2 << 20
GROUP_VALUE_LIMIT = 16 << 20
CONNECT_BUDGET_SECONDS = 3.0

# The session settings of every connection: timestamps as stored, no mode surprises
# (zero dates must load as they are).
_COMMON_SESSION = ("SET SESSION time_zone = '+00:00'",
                   "SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION'",
                   "SET SESSION group_concat_max_len = 1048576")
# The target is tuned for bulk load: constraints were checked on the source.
# A DROP or ALTER that waits on a connection someone left open (a running service)
# fails after a minute with that reason instead of hanging the window.
_TARGET_SESSION = ("SET SESSION unique_checks = 0", "SET SESSION foreign_key_checks = 0",
                   "SET SESSION lock_wait_timeout = 60")


def _code_of(exc: BaseException) -> tuple[int, str]:
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], int):
        return args[0], str(args[1]) if len(args) > 1 else str(exc)
    return 0, str(exc)


def translate(exc: BaseException, where: str) -> Exception:
    code, message = _code_of(exc)
    return error_for_code(code, redact(message), where=where)


def _is_transient_connect(exc: BaseException) -> bool:
    # refused connections are answered at once, so a short budget covers a restart
    return isinstance(exc, pymysql.err.OperationalError) and _code_of(exc)[0] in (2013,)


class Session:
    """One PyMySQL connection; every server error leaves as an sbs error."""

    def __init__(self, endpoint: DbEndpoint, *, database: str | None = None,
                 role: str = "source", local_infile: bool = False,
                 read_only: bool = False, bulk_load: bool = False,
                 log_bin: bool = True) -> None:
        self.endpoint = endpoint
        self.role = role
        self.where = f"{role} {endpoint.address}"
        try:
            for attempt in Retrying(stop=stop_after_delay(CONNECT_BUDGET_SECONDS),
                                    wait=wait_fixed(0.5), reraise=True,
                                    retry=retry_if_exception(_is_transient_connect)):
                with attempt:
                    self._connection = pymysql.connect(
                        host=endpoint.host, port=endpoint.port, user=endpoint.user,
                        password=endpoint.password, database=database, charset="utf8mb4",
                        connect_timeout=5, local_infile=local_infile, autocommit=True,
                        max_allowed_packet=64 << 20)
        except pymysql.err.MySQLError as exc:
            raise translate(exc, self.where) from None
        statements = list(_COMMON_SESSION)
        if read_only:
            statements.append("SET SESSION TRANSACTION READ ONLY")
        if bulk_load:
            statements += _TARGET_SESSION
        for statement in statements:
            self.execute(statement)
        if bulk_load and not log_bin:
            # needs SUPER/BINLOG ADMIN; without it the load is logged, which is only slower
            with contextlib.suppress(Exception):
                self.execute("SET SESSION sql_log_bin = 0")

    def execute(self, sql: str, args: Any = None) -> int:
        with self._translated(), self._connection.cursor() as cursor:
            return int(cursor.execute(sql, args))

    def query(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        with self._translated(), self._connection.cursor() as cursor:
            cursor.execute(sql, args)
            return list(cursor.fetchall())

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        """Driver errors leave as sbs errors. PyMySQL drops its socket when the server
        goes away; a LOAD DATA LOCAL then ends by writing to the dropped socket, and the
        AttributeError of that would hide the lost connection."""
        try:
            yield
        except pymysql.err.MySQLError as exc:
            raise translate(exc, self.where) from None
        except (AttributeError, OSError) as exc:
            if self._connection.open:
                raise
            raise UnreachableError(f"{self.where}: lost the connection to the server "
                                   f"({type(exc).__name__})") from None

    def query_one(self, sql: str, args: Any = None) -> tuple[Any, ...] | None:
        rows = self.query(sql, args)
        return rows[0] if rows else None

    def value(self, sql: str, args: Any = None) -> Any:
        row = self.query_one(sql, args)
        return row[0] if row else None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._connection.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load_stream(self, make_sql: Callable[[str], str],
                    feed: Callable[[Callable[[bytes | memoryview], None]], None]) -> int:
        """Run LOAD DATA LOCAL reading what `feed` writes, inside one transaction.

        `feed(write)` produces the stream. The transaction commits only when both the
        feed and the load succeed, so a source failing half-way leaves nothing behind.
        Returns the number of rows loaded.
        """
        read_fd, write_fd = os.pipe()
        _widen_pipe(write_fd)
        outcome: dict[str, Any] = {}

        def load() -> None:
            try:
                with self._connection.cursor() as cursor:
                    outcome["rows"] = cursor.execute(make_sql(f"/dev/fd/{read_fd}"))
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                outcome["error"] = exc
            finally:
                os.close(read_fd)  # a writer blocked on a dead loader gets EPIPE

        def write(data: bytes | memoryview) -> None:
            view = memoryview(data)
            while view:
                written = os.write(write_fd, view)
                view = view[written:]

        self.execute("START TRANSACTION")
        loader = threading.Thread(target=load, name="sbs-load", daemon=True)
        loader.start()
        feed_error: BaseException | None = None
        try:
            feed(write)
        except BrokenPipeError:
            pass  # the loader failed; its error explains why
        except BaseException as exc:  # noqa: BLE001 - re-raised after the loader ends
            feed_error = exc
        finally:
            os.close(write_fd)
            loader.join()
        if "error" in outcome:
            self._rollback_quietly()
            with self._translated():
                raise outcome["error"]
        if feed_error is not None:
            self._rollback_quietly()
            raise feed_error
        self.execute("COMMIT")
        return int(outcome.get("rows", 0))

    def _rollback_quietly(self) -> None:
        with contextlib.suppress(Exception):
            self._connection.rollback()


def _widen_pipe(fd: int) -> None:
    # fewer wake-ups per MiB between the relay and the loader
    with contextlib.suppress(OSError, AttributeError):
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)


def client_binary() -> str:
    for name in ("mariadb", "mysql"):
        found = shutil.which(name)
        if found:
            return found
    raise DbStepFailed("neither `mariadb` nor `mysql` client is installed",
                       hint="apt-get install mariadb-client")


_CLIENT_ERROR = re.compile(r"ERROR (\d+) \([0-9A-Z]+\)(?: at line \d+)?: (.*)")


@dataclass(frozen=True)
class StreamedChunk:
    size: int                           # bytes handed to the sink
    checksum: tuple[int, int, int]      # the source's, as checksum_sql gives it


class SnapshotReader(Session):
    """A read-only source connection that holds one consistent-snapshot transaction
    and streams chunks as LOAD DATA text.

    The source server builds the text (sql.line_expression) and joins the lines of a
    key-range piece of about PIECE_BYTES into one value (sql.select_piece_sql), so the
    client receives a few large values per chunk: no per-row work, no per-value
    object, and results come back as bytes (character_set_results = binary), exactly
    as stored. A piece that GROUP_CONCAT had to cut is read again row by row. The same
    statement returns the piece's checksum: the source reads each row once for both.
    """

    def __init__(self, endpoint: DbEndpoint, *, piece_bytes: int = PIECE_BYTES,
                 value_limit: int = GROUP_VALUE_LIMIT) -> None:
        super().__init__(endpoint, role="source", read_only=True)
        self.piece_bytes = piece_bytes
        server_packet = int(self.value("SELECT @@max_allowed_packet") or 0)
        # a value must fit in one packet of the server; bounded memory on our side
        self.value_limit = max(1024, min(value_limit, server_packet - 1024))
        self.read_by_rows = 0
        self.execute("SET SESSION character_set_results = binary")
        self.execute(f"SET SESSION group_concat_max_len = {self.value_limit}")

    def stream_chunk(self, table: TableInfo, chunk: Chunk,
                     sink: Callable[[memoryview], None]) -> StreamedChunk:
        """Hand the chunk's rows, as LOAD DATA lines, to `sink`. Returns the bytes and
        the chunk's source checksum, computed by the server in the same scan.

        The server builds a piece's value before it sends any of it, so the next piece
        is asked for before this one goes to `sink`: the source builds it while the
        target loads this one. A piece that was cut is read again by rows, and only
        then is the one after it asked for (one statement at a time per connection).
        A table without an integer key is one piece, or read by rows when it is too
        big for one value.
        """
        if table.range_column is None and table.estimated_bytes > self.value_limit // 2:
            # no integer key to cut pieces by, and too big for one value
            size = self._stream_piece_by_rows(table, chunk, sink)
            row = self.query_one(checksum_sql(table, chunk))
            return StreamedChunk(size, as_checksum(row or EMPTY_CHECKSUM))
        pieces = self._pieces(table, chunk)
        size, checksum = 0, EMPTY_CHECKSUM
        if not pieces:
            return StreamedChunk(size, checksum)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sbs-read") as fetcher:
            pending = fetcher.submit(self._fetch_piece, table, pieces[0])
            for index, piece in enumerate(pieces):
                value, piece_checksum = pending.result()
                checksum = combine_checksums(checksum, piece_checksum)
                if value is None:
                    size += self._stream_piece_by_rows(table, piece, sink)
                if index + 1 < len(pieces):
                    pending = fetcher.submit(self._fetch_piece, table, pieces[index + 1])
                if value:
                    sink(memoryview(value))
                    size += len(value)
        return StreamedChunk(size, checksum)

    def _pieces(self, table: TableInfo, chunk: Chunk) -> tuple[Chunk, ...]:
        if table.range_column is None:
            return (chunk,)
        column = quote_ident(table.range_column)
        row = self.query_one(f"SELECT MIN({column}), MAX({column}) FROM "
                             f"{qualified(table.database, table.name)} "
                             f"WHERE {chunk.predicate(table.range_column)}")
        if row is None or row[0] is None:
            return ()
        share = table.estimated_rows // max(1, len(table.chunks))
        return plan_pieces(int(row[0]), int(row[1]), share, average_row_bytes(table),
                           self.piece_bytes)

    def _fetch_piece(self, table: TableInfo,
                     piece: Chunk) -> tuple[bytes | None, tuple[int, int, int]]:
        """The piece's lines, newline-terminated (b"" when it has no rows), or None when
        GROUP_CONCAT had to cut the value; and the piece's checksum."""
        with self._translated(), self._connection.cursor() as cursor:
            cursor.execute(select_piece_sql(table, piece))
            row = cursor.fetchone()
            cut = cursor.warning_count > 0
        if row is None:
            raise DbStepFailed(f"{self.where}: no result for a piece of {table.key}")
        checksum = as_checksum(row[1:])
        if cut:
            return None, checksum
        if row[0] is None:
            return b"", checksum
        return bytes(row[0]) + b"\n", checksum

    def _stream_piece_by_rows(self, table: TableInfo, piece: Chunk,
                              sink: Callable[[memoryview], None]) -> int:
        """The piece one row at a time, handed on in blocks of about piece_bytes."""
        self.read_by_rows += 1
        total = 0
        block = bytearray()
        with self._translated(), self._connection.cursor(pymysql.cursors.SSCursor) as cursor:
            cursor.execute(select_lines_sql(table, piece))
            for (line,) in cursor:
                block += line
                block += b"\n"
                if len(block) >= self.piece_bytes:
                    sink(memoryview(block))
                    total += len(block)
                    block = bytearray()
        if block:
            sink(memoryview(block))
            total += len(block)
        return total

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._connection.rollback()
        super().close()


@contextlib.contextmanager
def sessions(*items: Session) -> Iterator[tuple[Session, ...]]:
    try:
        yield items
    finally:
        for item in items:
            item.close()


def run_tool(argv: list[str], *, what: str, stdin: Any = None, stdout: Any = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run a database tool (dump/load); raise DbStepFailed with its redacted stderr."""
    result = subprocess.run(argv, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})}, check=False)
    if result.returncode != 0:
        message = redact(result.stderr.decode("utf-8", "replace").strip()[-800:])
        match = _CLIENT_ERROR.search(message)
        if match:
            raise error_for_code(int(match.group(1)), match.group(2), where=what)
        raise DbStepFailed(f"{what}: exit {result.returncode}: {message}", step_id="db-backup")
    return result


def pipe_tools(producer: list[str], consumer: list[str], *, what: str,
               filter_: list[str] | None = None) -> None:
    """producer | [filter_ |] consumer; raise DbStepFailed naming the failing stage."""
    stages = [producer, *( [filter_] if filter_ else []), consumer]
    processes: list[subprocess.Popen[bytes]] = []
    errors = [tempfile.TemporaryFile() for _ in stages]
    previous: Any = subprocess.DEVNULL
    try:
        for index, argv in enumerate(stages):
            last = index == len(stages) - 1
            process = subprocess.Popen(argv, stdin=previous,
                                       stdout=subprocess.DEVNULL if last else subprocess.PIPE,
                                       stderr=errors[index], close_fds=True)
            if previous is not subprocess.DEVNULL:
                previous.close()
            previous = process.stdout
            processes.append(process)
        codes = [process.wait() for process in processes]
        for index, code in enumerate(codes):
            if code != 0:
                errors[index].seek(0)
                message = redact(errors[index].read().decode("utf-8", "replace")[-800:])
                raise DbStepFailed(f"{what}: {Path(stages[index][0]).name} exited {code}: "
                                   f"{message.strip()}", step_id="db-backup")
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        for handle in errors:
            handle.close()
