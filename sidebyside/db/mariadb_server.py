"""A real MariaDB server with its own datadir, socket, port and root password (adapter).

Production uses it for the backup's restore test (a throwaway server on a private
datadir, started and stopped around one check). The lab uses it too (its old and new
controller databases must outlive `sbs lab up`, hence `start(detach=True)`), as do the
integration tests and benchmarks of `sidebyside.db`.

Layout under `basedir`:
    data/            the datadir (initialised on first start)
    my.cnf           every setting, written on each start (so a restart picks up changes)
    root.password    random root password, mode 0600
    port             the port chosen on first start when none was given (kept for restarts)
    mariadbd.pid     written by mariadbd itself
    mariadbd.log     its error log
The server is only ever stopped through the PID it recorded, never by name.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pymysql
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from sidebyside.errors import InputError, StepFailed
from sidebyside.redact import redact, register_secret
from sidebyside.remote.local import pid_alive

# Sockets live in a sun_path of at most 108 bytes; deep pytest tmp dirs overflow that.
_MAX_SOCKET_PATH = 100
_RESERVED_PORTS = {3306, 5672, 15672}

# Small enough for a 2-core box shared by several servers; large enough that a bulk load
# is not throttled by redo-log checkpoints. Callers (the benchmark) override any of them.
DEFAULT_OPTIONS: dict[str, str | None] = {
    "innodb_buffer_pool_size": "256M",
    "innodb_log_file_size": "256M",
    "innodb_log_buffer_size": "32M",
    "innodb_flush_log_at_trx_commit": "2",
    "innodb_flush_method": "O_DIRECT",
    "innodb_io_capacity": "2000",
    "innodb_stats_on_metadata": "OFF",
    "sync_binlog": "0",
    "max_allowed_packet": "256M",
    "max_connections": "200",
    "performance_schema": "OFF",
    "local_infile": "ON",
    "character_set_server": "utf8mb4",
    "collation_server": "utf8mb4_general_ci",
    "event_scheduler": "OFF",
    "binlog_format": "ROW",
}


def _binary(*names: str) -> str:
    for name in names:
        for directory in (None, "/usr/sbin", "/usr/bin", "/usr/local/sbin"):
            found = shutil.which(name, path=directory) if directory else shutil.which(name)
            if found:
                return found
    raise InputError(f"none of {', '.join(names)} is installed (apt package mariadb-server)")


class MariaDBServer:
    """One mariadbd process with everything of its own under `basedir`."""

    def __init__(self, basedir: Path, *, host: str = "127.0.0.1", port: int | None = None,
                 name: str = "db", options: dict[str, str | None] | None = None) -> None:
        self.basedir = Path(basedir).absolute()
        self.host = host
        self.name = name
        self.options = {**DEFAULT_OPTIONS, **(options or {})}
        self._port = port
        if port in _RESERVED_PORTS:
            raise InputError(f"{name}: port {port} belongs to the machine's own services")
        self._process: subprocess.Popen[bytes] | None = None

    # ----------------------------------------------------------------- paths
    @property
    def datadir(self) -> Path:
        return self.basedir / "data"

    @property
    def config_file(self) -> Path:
        return self.basedir / "my.cnf"

    @property
    def pid_file(self) -> Path:
        return self.basedir / "mariadbd.pid"

    @property
    def log_file(self) -> Path:
        return self.basedir / "mariadbd.log"

    @property
    def password_file(self) -> Path:
        return self.basedir / "root.password"

    @property
    def socket_path(self) -> Path:
        preferred = self.basedir / "mariadbd.sock"
        if len(str(preferred)) <= _MAX_SOCKET_PATH:
            return preferred
        digest = hashlib.sha1(str(self.basedir).encode()).hexdigest()[:12]
        return Path("/tmp") / f"sbs-mariadb-{digest}.sock"

    # ------------------------------------------------------------ identities
    @property
    def port(self) -> int:
        if self._port is None:
            recorded = self.basedir / "port"
            if recorded.exists():
                self._port = int(recorded.read_text().strip())
            else:
                self._port = self.find_free_port(self.host)
                self.basedir.mkdir(parents=True, exist_ok=True)
                recorded.write_text(f"{self._port}\n")
        return self._port

    @property
    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return self._process.pid if self._process and self._process.poll() is None else None
        return pid

    @property
    def root_password(self) -> str:
        if not self.password_file.exists():
            self.basedir.mkdir(parents=True, exist_ok=True)
            password = secrets.token_urlsafe(24)
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(password + "\n")
        password = self.password_file.read_text().strip()
        register_secret(password)
        return password

    def url(self) -> str:
        return f"mysql://root@{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"MariaDBServer({self.name} {self.host}:{self._port} {self.basedir})"

    @classmethod
    def find_free_port(cls, host: str = "127.0.0.1") -> int:
        for _ in range(50):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((host, 0))
                port = int(probe.getsockname()[1])
            if port not in _RESERVED_PORTS:
                return port
        raise StepFailed("mariadb-port", f"no free port on {host}")

    # ------------------------------------------------------------- lifecycle
    def is_running(self) -> bool:
        if self._process is not None:
            self._process.poll()  # reap our own child so a killed server is not a zombie
        pid = self.pid
        if not pid_alive(pid):
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            return False
        # the PID may have been reused by something else since it was recorded
        return str(self.config_file).encode() in cmdline

    def start(self, *, detach: bool = False, timeout: float = 60) -> None:
        """Initialise the datadir when empty, start mariadbd and wait until it answers.

        detach=True: the server leads its own session and outlives this process.
        Raises StepFailed (with the error log's tail) when it does not come up.
        """
        if self.is_running():
            return
        self.basedir.mkdir(parents=True, exist_ok=True)
        (self.basedir / "tmp").mkdir(exist_ok=True)
        self.pid_file.unlink(missing_ok=True)
        fresh = not (self.datadir / "mysql").is_dir()
        self._write_config()
        if fresh:
            self._install_db()
        self.socket_path.unlink(missing_ok=True)
        with open(self.log_file, "ab") as log_handle:
            self._process = subprocess.Popen(
                [_binary("mariadbd", "mysqld"), f"--defaults-file={self.config_file}"],
                stdin=subprocess.DEVNULL, stdout=log_handle, stderr=log_handle,
                start_new_session=detach, close_fds=True)
        try:
            self._wait_ready(timeout, fresh)
            if fresh:
                self._secure_root()
        except BaseException:
            self.kill()
            raise

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM the recorded PID, SIGKILL after `timeout`. Idempotent."""
        if not self.is_running():
            self._reap()
            return
        pid = self.pid
        assert pid is not None
        os.kill(pid, signal.SIGTERM)
        if not self._wait_gone(pid, timeout):
            os.kill(pid, signal.SIGKILL)
            if not self._wait_gone(pid, 10):
                raise StepFailed(f"{self.name}-stop", f"mariadbd (pid {pid}) survived SIGKILL")
        self.pid_file.unlink(missing_ok=True)
        self._reap()

    def kill(self) -> None:
        """SIGKILL by recorded PID (tests simulate a crash with it)."""
        pid = self.pid
        if pid and self.is_running():
            os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid, 10)
        self._reap()

    def connect(self, database: str | None = None, **kw: Any) -> pymysql.connections.Connection:
        """A pymysql connection as root over TCP."""
        params: dict[str, Any] = {"host": self.host, "port": self.port, "user": "root",
                                  "password": self.root_password, "database": database,
                                  "charset": "utf8mb4", "connect_timeout": 10}
        params.update(kw)
        return pymysql.connect(**params)

    # ------------------------------------------------------------- internals
    def _write_config(self) -> None:
        lines = ["[mariadbd]", f"datadir={self.datadir}", f"socket={self.socket_path}",
                 f"pid-file={self.pid_file}", f"port={self.port}", f"bind-address={self.host}",
                 f"log-error={self.log_file}", f"tmpdir={self.basedir / 'tmp'}",
                 "skip-name-resolve", f"log-bin={self.datadir / 'binlog'}",
                 f"server-id={(self.port % 4_000_000_000) or 1}", "log-slave-updates=OFF",
                 "skip-external-locking"]
        if os.geteuid() == 0:
            lines.append("user=root")
        for key, value in self.options.items():
            lines.append(key if value is None else f"{key}={value}")
        lines += ["", "[client]", f"socket={self.socket_path}", f"port={self.port}",
                  f"host={self.host}", "user=root", ""]
        self.config_file.write_text("\n".join(lines))

    def _install_db(self) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)
        argv = [_binary("mariadb-install-db", "mysql_install_db"),
                f"--defaults-file={self.config_file}", f"--datadir={self.datadir}",
                "--auth-root-authentication-method=normal", "--skip-test-db"]
        if os.geteuid() == 0:
            argv.append("--user=root")
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StepFailed(f"{self.name}-install-db",
                             f"mariadb-install-db failed for {self.datadir}: "
                             f"{redact((result.stderr or result.stdout)[-1500:])}")

    def _wait_ready(self, timeout: float, fresh: bool) -> None:
        def probe() -> None:
            if self._process is not None and self._process.poll() is not None:
                raise StepFailed(f"{self.name}-start",
                                 f"mariadbd exited with {self._process.returncode}; "
                                 f"{self.log_file}:\n{self._log_tail()}")
            connection = pymysql.connect(unix_socket=str(self.socket_path), user="root",
                                         password="" if fresh else self.root_password,
                                         connect_timeout=2)
            connection.close()

        retrying = Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(0.2),
                            retry=retry_if_exception_type(pymysql.err.OperationalError),
                            reraise=False)
        try:
            retrying(probe)
        except RetryError:
            raise StepFailed(f"{self.name}-start",
                             f"mariadbd did not answer on {self.socket_path} within "
                             f"{timeout:.0f} s; {self.log_file}:\n{self._log_tail()}") from None

    def _secure_root(self) -> None:
        password = self.root_password
        connection = pymysql.connect(unix_socket=str(self.socket_path), user="root", password="")
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET SESSION sql_log_bin=0")  # set-up is not data: keep GTIDs clean
                cursor.execute("SELECT User, Host FROM mysql.user")
                accounts = list(cursor.fetchall())
                for user, host in accounts:
                    if user == "root" and host in ("localhost", "127.0.0.1", "::1"):
                        cursor.execute("ALTER USER %s@%s IDENTIFIED BY %s", (user, host, password))
                    elif user in ("", "root"):
                        # anonymous users, and root@<hostname> which skip-name-resolve
                        # cannot even address with ALTER/DROP USER
                        cursor.execute("DELETE FROM mysql.global_priv WHERE User=%s AND Host=%s",
                                       (user, host))
                cursor.execute("CREATE USER IF NOT EXISTS 'root'@'%%' IDENTIFIED BY %s",
                               (password,))
                cursor.execute("GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION")
                cursor.execute("FLUSH PRIVILEGES")
        finally:
            connection.close()

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._reap_pid(pid)
            if not pid_alive(pid):
                return True
            time.sleep(0.1)
        return not pid_alive(pid)

    def _reap_pid(self, pid: int) -> None:
        if self._process is not None and self._process.pid == pid:
            self._process.poll()
            return
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass

    def _reap(self) -> None:
        if self._process is not None:
            self._process.poll()
            if self._process.returncode is not None:
                self._process = None

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return redact("\n".join(text.strip().splitlines()[-lines:]))
