"""The only module of sidebyside.db that talks to servers (adapter).

Two ways in, each used where it is best:

* `Session` (PyMySQL): control statements, schema, grants, checksums on the target,
  and the target's `LOAD DATA LOCAL INFILE`, which PyMySQL streams from any readable
  path: we give it the read end of a pipe (/dev/fd/N), so nothing touches the disk.
  PyMySQL is pure Python, so it works wherever sbs runs; the bytes it moves are
  16 KiB packets, not rows, so its speed does not matter here.
* `SnapshotReader` (the `mariadb` command-line client, C): one long-lived client per
  copy worker holds the consistent-snapshot transaction, and the *source server*
  formats every row as LOAD DATA text (see sql.select_expression). The client's
  --batch --raw --quick output is therefore the load stream itself: Python relays it
  in 1 MiB reads and never decodes a row or creates a per-value object. Measured
  against PyMySQL and mysql-connector-python's C extension fetching rows in-process
  (see bench/results/db-copy.md), this leaves the two cores to the servers.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pymysql
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_fixed

from sidebyside.db.endpoint import DbEndpoint
from sidebyside.db.errors import DbStepFailed, UnreachableError, error_for_code
from sidebyside.redact import redact

READ_SIZE = 1 << 20
PIPE_SIZE = 1 << 20
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


class SnapshotReader:
    """A `mariadb` client process reading the source, statement by statement.

    Output of each request ends with a marker row carrying a random nonce, so the
    stream of one statement is delimited without parsing rows. The client stops at
    the first error (no --force): the relay then sees EOF and reports its stderr.
    """

    def __init__(self, endpoint: DbEndpoint, *, workdir: Path, name: str = "reader") -> None:
        self.endpoint = endpoint
        self.where = f"source {endpoint.address}"
        self._marker_text = f"SBS-END-{secrets.token_hex(16)}"
        self._marker_line = self._marker_text.encode() + b"\n"
        workdir.mkdir(parents=True, exist_ok=True)
        fd, option_path = tempfile.mkstemp(prefix=f".{name}-", suffix=".cnf", dir=workdir)
        self._option_file = Path(option_path)
        with os.fdopen(fd, "w") as handle:  # mkstemp: mode 0600
            password = endpoint.password.replace("\\", "\\\\").replace('"', '\\"')
            handle.write(f'[client]\npassword="{password}"\n')
        self._stderr = tempfile.TemporaryFile(dir=workdir)
        argv = [client_binary(), f"--defaults-extra-file={self._option_file}",
                f"--host={endpoint.host}", f"--port={endpoint.port}",
                f"--user={endpoint.user}", "--protocol=TCP", "--batch", "--raw",
                "--skip-column-names", "--quick", "--unbuffered", "--no-auto-rehash",
                "--default-character-set=utf8mb4", "--max-allowed-packet=1G",
                "--connect-timeout=10", "--skip-ssl"]
        self._process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=self._stderr, close_fds=True)
        assert self._process.stdin is not None and self._process.stdout is not None
        self._stdin = self._process.stdin
        self._stdout_fd = self._process.stdout.fileno()
        _widen_pipe(self._stdout_fd)
        try:
            self.statements(*_COMMON_SESSION, "SET SESSION character_set_results = binary",
                            "SET SESSION TRANSACTION READ ONLY")
        finally:
            self._option_file.unlink(missing_ok=True)  # read at connect; no longer needed

    @property
    def pid(self) -> int:
        return self._process.pid

    def _send(self, sql: str) -> None:
        try:
            self._stdin.write(sql.encode() + b";\nSELECT '" + self._marker_text.encode()
                              + b"';\n")
            self._stdin.flush()
        except BrokenPipeError:
            raise self._failure() from None

    def stream(self, sql: str, sink: Callable[[memoryview], None]) -> int:
        """Run one statement; hand its output to `sink` in large pieces. Returns bytes.

        The output ends with the marker line. The last len(marker) bytes read are held
        back until more output shows they are not the marker; a read at least that long
        holds the whole marker if the output ends there, so the held-back bytes are
        handed on first and the read itself is never copied.
        """
        self._send(sql)
        marker = self._marker_line
        keep = len(marker)
        held = b""
        total = 0
        while True:
            data = os.read(self._stdout_fd, READ_SIZE)
            if not data:
                raise self._failure()
            if len(data) < keep:
                data, held = held + data, b""
            elif held:
                sink(memoryview(held))
                total += len(held)
                held = b""
            view = memoryview(data)
            if data.endswith(marker):
                if len(data) > keep:
                    sink(view[:-keep])
                    total += len(data) - keep
                return total
            cut = len(data) - keep
            if cut > 0:
                sink(view[:cut])
                total += cut
                held = data[cut:]
            else:
                held = data

    def rows(self, sql: str) -> list[list[bytes]]:
        """A small result as rows of raw byte fields (no tabs/newlines in the values)."""
        parts: list[bytes] = []
        self.stream(sql, lambda piece: parts.append(bytes(piece)))
        text = b"".join(parts)
        return [line.split(b"\t") for line in text.split(b"\n") if line]

    def statements(self, *sqls: str) -> None:
        for sql in sqls:
            self.stream(sql, lambda _piece: None)

    def _failure(self) -> Exception:
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._stderr.seek(0)
        text = redact(self._stderr.read().decode("utf-8", "replace").strip())
        match = _CLIENT_ERROR.search(text)
        if match:
            return error_for_code(int(match.group(1)), match.group(2), where=self.where)
        if "Can't connect" in text or "Lost connection" in text or "Unknown MySQL server" in text:
            return UnreachableError(f"{self.where}: {text[-500:]}")
        return DbStepFailed(f"{self.where}: the mariadb client exited "
                            f"({self._process.returncode}): {text[-500:] or 'no message'}")

    def close(self) -> None:
        if self._process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                self._stdin.write(b"ROLLBACK;\n")
                self._stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        with contextlib.suppress(OSError, ValueError):
            self._stdin.close()
        self._stderr.close()
        self._option_file.unlink(missing_ok=True)
        if self._process.stdout is not None:
            self._process.stdout.close()


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
