"""The only module of sidebyside.db that talks to servers (adapter).

Everything goes through PyMySQL (pure Python: it works wherever sbs runs):

* `ReadOnlySession` (every session to the old side, every read) and `TargetSession`
  (the only type anything writes through): control statements, schema, grants,
  checksums, and the target's `LOAD DATA LOCAL INFILE`, streamed from the read end of
  a pipe (/dev/fd/N), so nothing touches the disk; the connection sends that stream
  and nothing else the server may ask for.
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
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import pymysql
import pymysql.connections
import pymysql.cursors
from pymysql.protocol import LoadLocalPacketWrapper
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_fixed

from sidebyside.db.endpoint import DbEndpoint
from sidebyside.db.errors import DbStepFailed, InputError, UnreachableError, error_for_code
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


class _GuardedInfileResult(pymysql.connections.MySQLResult):
    """A query result that answers the server's LOCAL INFILE request only for the one
    stream sbs opened for this statement.

    The MySQL protocol lets the *server* name the file the client sends: PyMySQL opens
    whatever path the request carries. A hostile or compromised server (or anything in
    the middle without TLS) could ask for /etc/shadow or a password file in reply to
    any statement. Here every other name gets an empty reply (the server loads nothing)
    and the statement fails with a clear error.
    """

    def _read_load_local_packet(self, first_packet: Any) -> None:
        conn = self.connection
        requested = LoadLocalPacketWrapper(first_packet).filename
        allowed = getattr(conn, "allowed_infile", None)
        if allowed is not None and requested == allowed:
            conn.allowed_infile = None  # one stream, one statement
            super()._read_load_local_packet(first_packet)
            return
        conn.write_packet(b"")  # an empty file: nothing of ours goes to the server
        with contextlib.suppress(pymysql.err.MySQLError):
            reply = conn._read_packet()
            if reply.is_ok_packet():
                self._read_ok_packet(reply)
        raise InfileRefused(requested.decode("utf-8", "replace"))


class InfileRefused(Exception):
    """The server asked for a local file sbs did not open for the statement."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class _GuardedInfileConnection(pymysql.connections.Connection):
    """A PyMySQL connection whose LOAD DATA LOCAL can send only `allowed_infile`."""

    allowed_infile: bytes | None = None

    def _read_query_result(self, unbuffered: bool = False) -> int:
        # as PyMySQL's own, with the guarded result in place of MySQLResult
        self._result = None
        result = _GuardedInfileResult(self)
        if unbuffered:
            result.init_unbuffered_query()
        else:
            result.read()
        self._result = result
        if result.server_status is not None:
            self.server_status = result.server_status
        return int(result.affected_rows or 0)


def tls_context(endpoint: DbEndpoint) -> ssl.SSLContext | None:
    """The TLS settings of `endpoint`: None without tls_ca, else a context that verifies
    the server's certificate against that CA and the host name (or IP) it was dialled by.
    Raises InputError when a CA, certificate or key file cannot be used."""
    if not endpoint.tls_ca:
        if endpoint.tls_cert or endpoint.tls_key:
            raise InputError(f"database {endpoint.address}: a TLS client certificate "
                             f"needs tls.ca too (the server must be verified)")
        return None
    try:
        context = ssl.create_default_context(cafile=endpoint.tls_ca)
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        if endpoint.tls_cert:
            context.load_cert_chain(endpoint.tls_cert, keyfile=endpoint.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise InputError(f"database {endpoint.address}: TLS files cannot be used: "
                         f"{getattr(exc, 'strerror', None) or type(exc).__name__}") from None
    return context


class Session:
    """One PyMySQL connection; every server error leaves as an sbs error.

    Never opened as such: a ReadOnlySession (the old side, and every read) or a
    TargetSession (the only kind anything writes through) says what it may do, so the
    type, not a flag someone may forget, keeps the old side read-only.
    """

    _connection_class: type[pymysql.connections.Connection] = pymysql.connections.Connection
    _local_infile = False

    def __init__(self, endpoint: DbEndpoint, *, database: str | None = None,
                 role: str = "source") -> None:
        if type(self) is Session:
            raise TypeError("open a ReadOnlySession or a TargetSession, not a Session")
        self.endpoint = endpoint
        self.role = role
        self.where = f"{role} {endpoint.address}"
        context = tls_context(endpoint)
        try:
            for attempt in Retrying(stop=stop_after_delay(CONNECT_BUDGET_SECONDS),
                                    wait=wait_fixed(0.5), reraise=True,
                                    retry=retry_if_exception(_is_transient_connect)):
                with attempt:
                    self._connection = self._connection_class(
                        host=endpoint.host, port=endpoint.port, unix_socket=endpoint.socket,
                        user=endpoint.user,
                        password=endpoint.password, database=database, charset="utf8mb4",
                        connect_timeout=endpoint.connect_timeout,
                        read_timeout=endpoint.read_timeout,
                        write_timeout=endpoint.write_timeout,
                        ssl=context, local_infile=self._local_infile, autocommit=True,
                        max_allowed_packet=64 << 20)
        except pymysql.err.MySQLError as exc:
            raise translate(exc, self.where) from None
        except ssl.SSLError as exc:
            raise UnreachableError(f"{self.where}: TLS refused: {exc.reason or exc}") from None
        for statement in self._session_statements():
            self.execute(statement)

    def _session_statements(self) -> list[str]:
        return list(_COMMON_SESSION)

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
        except InfileRefused as exc:
            raise DbStepFailed(f"{self.where}: the server asked for local file "
                               f"{exc.path!r}, which sbs did not open for this statement; "
                               f"refused, nothing was sent") from None
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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ReadOnlySession(Session):
    """A session that cannot write: every transaction, autocommitted statements
    included, is READ ONLY on the server, and LOCAL INFILE is off. Every session to the
    old side is one of these (copy and backup sources, verify, positions, pre-flight)."""

    _local_infile = False

    def _session_statements(self) -> list[str]:
        return [*_COMMON_SESSION, "SET SESSION TRANSACTION READ ONLY"]


class TargetSession(Session):
    """The one session type sbs writes through: copy, restore and db_sync targets.

    `bulk_load` tunes it for loading (constraints were checked on the source);
    `log_bin=False` keeps the load out of the target's binlog where the login may.
    LOAD DATA LOCAL sends only the stream load_stream opened (_GuardedInfileConnection).
    """

    _connection_class = _GuardedInfileConnection
    _local_infile = True

    def __init__(self, endpoint: DbEndpoint, *, database: str | None = None,
                 role: str = "target", bulk_load: bool = False, log_bin: bool = True) -> None:
        self._bulk_load = bulk_load
        super().__init__(endpoint, database=database, role=role)
        if bulk_load and not log_bin:
            # needs SUPER/BINLOG ADMIN; without it the load is logged, which is only slower
            with contextlib.suppress(Exception):
                self.execute("SET SESSION sql_log_bin = 0")

    def _session_statements(self) -> list[str]:
        return [*_COMMON_SESSION, *(_TARGET_SESSION if self._bulk_load else ())]

    def load_stream(self, make_sql: Callable[[str], str],
                    feed: Callable[[Callable[[bytes | memoryview], None]], None]) -> int:
        """Run LOAD DATA LOCAL reading what `feed` writes, inside one transaction.

        `feed(write)` produces the stream. The transaction commits only when both the
        feed and the load succeed, so a source failing half-way leaves nothing behind.
        Only the pipe opened here may be sent: a request for any other file is refused.
        Returns the number of rows loaded.
        """
        require_target(self, "load_stream")
        read_fd, write_fd = os.pipe()
        _widen_pipe(write_fd)
        infile = f"/dev/fd/{read_fd}"
        outcome: dict[str, Any] = {}
        connection = self._connection
        assert isinstance(connection, _GuardedInfileConnection)

        def load() -> None:
            try:
                connection.allowed_infile = infile.encode()
                with connection.cursor() as cursor:
                    outcome["rows"] = cursor.execute(make_sql(infile))
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                outcome["error"] = exc
            finally:
                connection.allowed_infile = None
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


def text_of(value: Any) -> str:
    """A column value as text (the driver returns bytes for binary collations)."""
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


def require_target(session: object, what: str) -> TargetSession:
    """`session`, when it is a TargetSession; TypeError otherwise.

    The type hints already let mypy refuse a read-only session where something writes;
    this is the same rule at run time, for callers mypy does not see.
    """
    if not isinstance(session, TargetSession):
        raise TypeError(f"{what} writes, and needs a TargetSession, not "
                        f"{type(session).__name__}")
    return session


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


class SnapshotReader(ReadOnlySession):
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
        super().__init__(endpoint, role="source")
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
