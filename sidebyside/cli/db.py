"""`sbs db copy|verify|backup|restore-test`: thin commands over `sidebyside.db`.

URLs are mysql://user@host:port; passwords come from --password-file (both sides),
--from-password-file/--to-password-file, --from-password-env/--to-password-env, or
--from-option-file/--to-option-file (a ~/.my.cnf-style file with [client] password=).
Errors propagate as SbsError subclasses; `sbs` main turns them into exit codes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from sidebyside.cli import output
from sidebyside.db import DbEndpoint, endpoint_from_url
from sidebyside.db.backup import backup as run_backup
from sidebyside.db.backup import restore_test as run_restore_test
from sidebyside.db.copy import DEFAULT_ROWS_PER_CHUNK, copy_databases
from sidebyside.db.endpoint import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_WRITE_TIMEOUT,
)
from sidebyside.db.report import ProgressEvent
from sidebyside.db.verify import verify_databases
from sidebyside.errors import InputError

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Copy, verify and back up databases.")

FromUrl = Annotated[str, typer.Option("--from", help="Source: mysql://user@host:port")]
ToUrl = Annotated[str, typer.Option("--to", help="Target: mysql://user@host:port")]
Databases = Annotated[str | None, typer.Option(
    "--databases", help="Comma-separated databases (default: every non-system one).")]
PasswordFile = Annotated[Path | None, typer.Option(
    "--password-file", help="Password file for both sides (one line).")]
FromPasswordFile = Annotated[Path | None, typer.Option("--from-password-file")]
ToPasswordFile = Annotated[Path | None, typer.Option("--to-password-file")]
FromPasswordEnv = Annotated[str | None, typer.Option("--from-password-env",
                                                     help="Env variable with the password.")]
ToPasswordEnv = Annotated[str | None, typer.Option("--to-password-env")]
FromOptionFile = Annotated[Path | None, typer.Option("--from-option-file",
                                                     help="~/.my.cnf-style file.")]
ToOptionFile = Annotated[Path | None, typer.Option("--to-option-file")]
Workers = Annotated[int, typer.Option("--workers", min=1, max=32,
                                      help="Parallel copy streams.")]
StateDir = Annotated[Path, typer.Option("--state-dir", envvar="SBS_DB_STATE_DIR",
                                        help="Where the resumable copy state lives.")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
ConnectTimeout = Annotated[float, typer.Option(
    "--connect-timeout", min=0.1, help="Seconds to wait for a server to accept a login.")]
ReadTimeout = Annotated[float, typer.Option(
    "--read-timeout", min=0.1, help="Seconds a session waits for a server's answer "
                                    "before it gives up (exit 8).")]
WriteTimeout = Annotated[float, typer.Option(
    "--write-timeout", min=0.1, help="Seconds a session waits to send to a server.")]


@dataclass(frozen=True)
class _Timeouts:
    connect: float = DEFAULT_CONNECT_TIMEOUT
    read: float = DEFAULT_READ_TIMEOUT
    write: float = DEFAULT_WRITE_TIMEOUT


def _endpoint(url: str, side: str, password_file: Path | None, side_file: Path | None,
              side_env: str | None, side_option: Path | None,
              timeouts: _Timeouts | None = None) -> DbEndpoint:
    sources: dict[str, Any] = {}
    if side_file or side_env or side_option:
        sources = {"password_file": side_file, "password_env": side_env,
                   "option_file": side_option}
    elif password_file:
        sources = {"password_file": password_file}
    else:
        raise InputError(f"--{side}: no password source; give --password-file, "
                         f"--{side}-password-file, --{side}-password-env or "
                         f"--{side}-option-file")
    endpoint = endpoint_from_url(url, **sources)
    timeouts = timeouts or _Timeouts()
    return replace(endpoint, connect_timeout=timeouts.connect, read_timeout=timeouts.read,
                   write_timeout=timeouts.write)


def _databases(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [d.strip() for d in value.split(",") if d.strip()]
    if not names:
        raise InputError("--databases: no database named")
    return names


class _RichProgress:
    """Renders ProgressEvents: one bar per table in flight plus the overall bar."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
            TransferSpeedColumn(), TextColumn("{task.fields[rows]:>12,} rows"),
            TimeRemainingColumn(), console=output.err_console, transient=False)
        self.overall: TaskID | None = None
        self.tables: dict[str, TaskID] = {}
        self.rows: dict[TaskID, int] = {}

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "plan":
            self.overall = self.progress.add_task("[bold]all tables", total=event.total_bytes
                                                  or None, rows=0)
        elif event.kind == "table" and event.table:
            self.tables[event.table] = self.progress.add_task(
                event.table, total=event.total_bytes or None, rows=0)
        elif event.kind == "data" and event.table:
            for task in (self.tables.get(event.table), self.overall):
                if task is None:
                    continue
                self.rows[task] = self.rows.get(task, 0) + event.rows
                self.progress.update(task, advance=event.bytes, rows=self.rows[task])
        elif event.kind == "table-done" and event.table in self.tables:
            task = self.tables[event.table]
            self.progress.update(task, total=self.progress.tasks[task].completed or 1,
                                 completed=self.progress.tasks[task].completed or 1)
        elif event.kind == "done" and self.overall is not None:
            # the totals were server estimates (InnoDB pages), the stream is text
            done = self.progress.tasks[self.overall].completed
            self.progress.update(self.overall, total=done or 1, completed=done or 1)
        elif event.kind == "phase" and not event.table:
            self.progress.console.print(f"[dim]db:[/] {event.message}")

    def __enter__(self) -> _RichProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


@app.command("copy")
def copy_command(from_url: FromUrl, to_url: ToUrl, databases: Databases = None,
                 password_file: PasswordFile = None,
                 from_password_file: FromPasswordFile = None,
                 to_password_file: ToPasswordFile = None,
                 from_password_env: FromPasswordEnv = None, to_password_env: ToPasswordEnv = None,
                 from_option_file: FromOptionFile = None, to_option_file: ToOptionFile = None,
                 replace: Annotated[bool, typer.Option(
                     "--replace", help="Drop and overwrite non-empty target databases.")] = False,
                 workers: Workers = 2, state_dir: StateDir = Path(".sbs-db"),
                 skip_users: Annotated[bool, typer.Option(
                     "--skip-users", help="Do not copy service accounts and grants "
                                          "(the deploy automation owns them).")] = False,
                 rows_per_chunk: Annotated[int, typer.Option(
                     "--rows-per-chunk", min=1000)] = DEFAULT_ROWS_PER_CHUNK,
                 connect_timeout: ConnectTimeout = DEFAULT_CONNECT_TIMEOUT,
                 read_timeout: ReadTimeout = DEFAULT_READ_TIMEOUT,
                 write_timeout: WriteTimeout = DEFAULT_WRITE_TIMEOUT,
                 as_json: Json = False) -> None:
    """Copy databases (consistent snapshot, parallel, verified, resumable).

    --from and --to must be two different servers: proven by the servers' identity
    before anything is written (exit 2 otherwise)."""
    timeouts = _Timeouts(connect_timeout, read_timeout, write_timeout)
    source = _endpoint(from_url, "from", password_file, from_password_file, from_password_env,
                       from_option_file, timeouts)
    target = _endpoint(to_url, "to", password_file, to_password_file, to_password_env,
                       to_option_file, timeouts)
    names = _databases(databases)
    if as_json:
        report = copy_databases(source, target, names, workers=workers, replace=replace,
                                state_dir=state_dir, copy_users=not skip_users,
                                rows_per_chunk=rows_per_chunk, source_field="--from",
                                target_field="--to")
        output.emit_json(report.to_dict())
        return
    with _RichProgress() as progress:
        report = copy_databases(source, target, names, workers=workers, replace=replace,
                                state_dir=state_dir, progress=progress,
                                copy_users=not skip_users, rows_per_chunk=rows_per_chunk,
                                source_field="--from", target_field="--to")
    data = report.to_dict()
    resumed = " (resumed)" if report.resumed else ""
    output.console.print(
        f"copied{resumed} {len(report.tables)} tables of {', '.join(report.databases)}: "
        f"{report.rows:,} rows, {report.bytes / 1e6:,.1f} MB in {report.seconds:.1f} s "
        f"({data['megabytes_per_second']} MB/s); verified: {report.status == 'verified'}")


@app.command("verify")
def verify_command(from_url: FromUrl, to_url: ToUrl, databases: Databases = None,
                   password_file: PasswordFile = None,
                   from_password_file: FromPasswordFile = None,
                   to_password_file: ToPasswordFile = None,
                   from_password_env: FromPasswordEnv = None,
                   to_password_env: ToPasswordEnv = None,
                   from_option_file: FromOptionFile = None,
                   to_option_file: ToOptionFile = None, workers: Workers = 2,
                   state_dir: Annotated[Path | None, typer.Option(
                       "--state-dir", envvar="SBS_DB_STATE_DIR",
                       help="Record the verdict in this copy state.")] = None,
                   connect_timeout: ConnectTimeout = DEFAULT_CONNECT_TIMEOUT,
                   read_timeout: ReadTimeout = DEFAULT_READ_TIMEOUT,
                   write_timeout: WriteTimeout = DEFAULT_WRITE_TIMEOUT,
                   as_json: Json = False) -> None:
    """Compare schema, row counts and chunked checksums of source and target."""
    timeouts = _Timeouts(connect_timeout, read_timeout, write_timeout)
    source = _endpoint(from_url, "from", password_file, from_password_file, from_password_env,
                       from_option_file, timeouts)
    target = _endpoint(to_url, "to", password_file, to_password_file, to_password_env,
                       to_option_file, timeouts)
    report = verify_databases(source, target, _databases(databases), workers=workers,
                              state_dir=state_dir)
    if as_json:
        output.emit_json(report.to_dict())
        return
    output.console.print(f"equal: {len(report.tables)} tables of "
                         f"{', '.join(report.databases)} in {report.seconds:.1f} s")


@app.command("backup")
def backup_command(from_url: FromUrl,
                   dest: Annotated[Path, typer.Option("--dest", help="Empty backup directory.")],
                   databases: Databases = None, password_file: PasswordFile = None,
                   from_password_file: FromPasswordFile = None,
                   from_password_env: FromPasswordEnv = None,
                   from_option_file: FromOptionFile = None,
                   extra: Annotated[list[Path] | None, typer.Option(
                       "--extra", help="A config or key file to include (repeatable).")] = None,
                   as_json: Json = False) -> None:
    """Compressed per-database dumps, extra files, and a sha256 manifest."""
    source = _endpoint(from_url, "from", password_file, from_password_file, from_password_env,
                       from_option_file)
    started = time.monotonic()
    manifest = run_backup(source, _databases(databases), dest, extra_files=extra or [])
    if as_json:
        output.emit_json({"dest": str(dest), "databases": manifest["databases"],
                          "files": len(manifest["files"]), "tables": len(manifest["tables"]),
                          "seconds": manifest["seconds"]})
        return
    output.console.print(f"backed up {', '.join(manifest['databases'])} to {dest}: "
                         f"{len(manifest['files'])} files in "
                         f"{time.monotonic() - started:.1f} s")


@app.command("restore-test")
def restore_test_command(
        backup_dir: Annotated[Path, typer.Argument(help="A directory written by `sbs db backup`.")],
        keep: Annotated[bool, typer.Option("--keep", help="Keep the scratch server's "
                                                          "files.")] = False,
        as_json: Json = False) -> None:
    """Load a backup into a scratch MariaDB and check it against its manifest."""
    report = run_restore_test(backup_dir, keep=keep)
    if as_json:
        output.emit_json(report)
        return
    output.console.print(f"restore test passed: {report['tables']} tables, "
                         f"{report['rows']:,} rows in {report['seconds']} s")
