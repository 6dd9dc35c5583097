"""Verified backups: one consistent snapshot, per-database compressed dumps, a sha256
manifest with per-table row counts and checksums, and a restore test into a scratch
MariaDB that checks the restored data against that manifest.

Layout of a backup directory:
    manifest.json              what follows, with sha256 and per-table rows/checksum
    SHA256SUMS                 the same hashes, for `sha256sum -c`
    <db>/schema.sql.gz         CREATE DATABASE and CREATE TABLE statements
    <db>/<table>.txt.gz        the rows in LOAD DATA text format (see sql.LOAD_FORMAT)
    <db>/objects.sql.gz        views, routines, triggers, events (mariadb client syntax)
    accounts.sql.gz            service accounts and grants (password hashes: keep private)
    files/...                  extra files the caller adds (configs, key repositories)
Why not mariadb-dump: it prints FLOAT columns with 6 significant digits (lossy, shown by
the tricky-database test), and its snapshot is not the one the checksums are taken in.
The rows are formatted by the source server exactly as the copy streams them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

from sidebyside.db import schema
from sidebyside.db.checksum import chunk_checksum
from sidebyside.db.client import (
    ReadOnlySession,
    Session,
    SnapshotReader,
    TargetSession,
    client_binary,
    pipe_tools,
)
from sidebyside.db.copy import take_snapshot
from sidebyside.db.endpoint import DbEndpoint
from sidebyside.db.errors import DbStepFailed, InputError, verification_failed
from sidebyside.db.mariadb_server import MariaDBServer
from sidebyside.db.sql import Chunk, load_data_sql, quote_ident

MANIFEST = "manifest.json"
FORMAT = 1
_READ = 1 << 20


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "_"


def backup(source: DbEndpoint, databases: list[str] | None, dest_dir: Path, *,
           extra_files: Iterable[Path] = (), compress_level: int = 1,
           copy_users: bool = True) -> dict[str, Any]:
    """Back up `databases` (default: all non-system ones) and `extra_files` to `dest_dir`.

    Returns the manifest (also written to dest_dir/manifest.json). Raises InputError when
    dest_dir is not empty or an extra file is unreadable, and what copy_databases raises
    for the source.
    """
    dest = Path(dest_dir)
    if dest.exists() and any(dest.iterdir()):
        raise InputError(f"backup directory {dest} is not empty")
    extras = [Path(p) for p in extra_files]
    for path in extras:
        if not path.is_file():
            raise InputError(f"backup: extra file {path} does not exist or is not a file")
    # Private even under a loose umask: the dump holds the accounts' password hashes.
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(dest, 0o700)
    started = time.monotonic()
    control = ReadOnlySession(source, role="source")
    reader = SnapshotReader(source)
    files: list[dict[str, Any]] = []
    tables_manifest: dict[str, dict[str, Any]] = {}
    try:
        names = schema.resolve_databases(control, databases)
        position = take_snapshot(control, [reader])
        for database in names:
            folder = dest / _safe_name(database)
            folder.mkdir(mode=0o700)
            tables = schema.read_tables(control, database)
            # Tables come in name order, so a foreign key may name a table created
            # later: the dump turns the checks off for its own session, as mysqldump does.
            statements = ["SET FOREIGN_KEY_CHECKS=0;", _show_create_database(control, database),
                          f"USE {quote_ident(database)};"]
            statements += [schema.show_create_table(control, database, t.name) + ";"
                           for t in tables]
            _write_gz(folder / "schema.sql.gz", "\n\n".join(statements) + "\n")
            files.append(_file_entry(dest, folder / "schema.sql.gz", "schema", database))
            for table in tables:
                path = folder / f"{_safe_name(table.name)}.txt.gz"
                with gzip.open(path, "wb", compresslevel=compress_level) as out:
                    def sink(piece: memoryview, out: Any = out) -> None:
                        out.write(piece)

                    streamed = reader.stream_chunk(table, Chunk(0), sink)
                count, crc_xor, crc_sum = streamed.checksum
                tables_manifest[table.key] = {"rows": count, "checksum": [count, crc_xor,
                                                                          crc_sum],
                                              "file": str(path.relative_to(dest))}
                files.append(_file_entry(dest, path, "data", database, table=table.name))
            objects = schema.read_objects(control, database)
            _write_gz(folder / "objects.sql.gz", _objects_sql(objects))
            files.append(_file_entry(dest, folder / "objects.sql.gz", "objects", database))
        if copy_users:
            accounts = schema.service_accounts(control, names)
            text = "\n".join(s + ";" for a in accounts for s in (
                _create_if_missing(a.create), *a.grants)) + "\n"
            _write_gz(dest / "accounts.sql.gz", text)
            os.chmod(dest / "accounts.sql.gz", 0o600)
            files.append(_file_entry(dest, dest / "accounts.sql.gz", "accounts", None))
    finally:
        reader.close()
        control.close()
    for path in extras:
        stored = dest / "files" / _safe_name(str(path.resolve()).lstrip("/"))
        stored.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, stored)
        entry = _file_entry(dest, stored, "extra", None)
        entry["original"] = str(path.resolve())
        files.append(entry)
    manifest = {"format": FORMAT, "created": time.time(), "source": source.url,
                "databases": names, "position": position, "tables": tables_manifest,
                "files": files, "seconds": round(time.monotonic() - started, 2)}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    (dest / "SHA256SUMS").write_text("".join(f"{f['sha256']}  {f['path']}\n" for f in files))
    return manifest


def _show_create_database(control: Session, database: str) -> str:
    row = control.query_one(f"SHOW CREATE DATABASE {quote_ident(database)}")
    text = row[1] if row else f"CREATE DATABASE {quote_ident(database)}"
    text = text.decode() if isinstance(text, bytes) else str(text)
    return text.replace("CREATE DATABASE", "CREATE DATABASE IF NOT EXISTS", 1) + ";"


def _create_if_missing(create: str) -> str:
    if create.startswith("CREATE USER ") and "IF NOT EXISTS" not in create[:30]:
        return "CREATE USER IF NOT EXISTS " + create[len("CREATE USER "):]
    return create


def _write_gz(path: Path, text: str) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write(text)


def _file_entry(root: Path, path: Path, kind: str, database: str | None,
                **extra: Any) -> dict[str, Any]:
    return {"path": str(path.relative_to(root)), "kind": kind, "database": database,
            "bytes": path.stat().st_size, "sha256": _sha256(path), **extra}


def _objects_sql(objects: schema.SchemaObjects) -> str:
    """The objects as a script the `mariadb` client runs (DELIMITER for bodies)."""
    out = [f"USE {quote_ident(objects.database)};", "DELIMITER ;;"]

    def context(sql_mode: str, charset: str, collation: str, sql: str) -> None:
        mode = sql_mode.replace("'", "")
        out.append(f"SET SESSION sql_mode = '{mode}';;")
        out.append(f"SET NAMES {charset} COLLATE {collation};;")
        out.append(sql + ";;")

    views = sorted(objects.views, key=lambda v: sum(f"`{o[0]}`" in v[1]
                                                      for o in objects.views))
    for _name, sql, charset, collation in views:
        context("", charset, collation, sql)
    for routine in objects.routines:
        context(routine["sql_mode"], routine["charset"], routine["collation"], routine["sql"])
    for trigger in objects.triggers:
        context(trigger["sql_mode"], trigger["charset"], trigger["collation"], trigger["sql"])
    for event in objects.events:
        out.append(f"SET SESSION time_zone = '{event['time_zone']}';;")
        context(event["sql_mode"], event["charset"], event["collation"], event["sql"])
    out.append("DELIMITER ;")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ restore test
def check_manifest(backup_dir: Path) -> dict[str, Any]:
    """Load the manifest and check every file's sha256. Raises VerificationError."""
    root = Path(backup_dir)
    try:
        manifest: dict[str, Any] = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{root / MANIFEST}: not a readable backup manifest ({exc})") from None
    bad = []
    for entry in manifest.get("files", []):
        path = root / entry["path"]
        if not path.is_file():
            bad.append(f"{entry['path']}: missing")
        elif _sha256(path) != entry["sha256"]:
            bad.append(f"{entry['path']}: sha256 differs")
    if bad:
        raise verification_failed(f"backup {root}: " + "; ".join(bad))
    return manifest


def restore_test(backup_dir: Path, *, scratch_dir: Path | None = None,
                 keep: bool = False) -> dict[str, Any]:
    """Restore a backup into a scratch MariaDB and compare it with the manifest.

    Returns a report {"equal": True, "tables": n, "rows": n, "seconds": s}. Raises
    VerificationError (a file's hash, a table's rows or checksum differ), DbStepFailed
    (the scratch server or a load failed).
    """
    started = time.monotonic()
    root = Path(backup_dir)
    manifest = check_manifest(root)
    own_dir = scratch_dir is None
    base = Path(scratch_dir) if scratch_dir is not None else \
        Path(tempfile.mkdtemp(prefix="sbs-restore-"))
    server = MariaDBServer(base / "mariadb", host="127.0.0.1", name="restore-test")
    problems: list[str] = []
    rows = 0
    try:
        server.start()
        endpoint = DbEndpoint(server.host, server.port, "root", server.root_password)
        scripts = [e for e in manifest["files"] if e["kind"] == "schema"]
        for entry in scripts:
            _run_script(endpoint, root / entry["path"], base)
        with TargetSession(endpoint, role="scratch", bulk_load=True,
                           log_bin=False) as session:
            for database in manifest["databases"]:
                for table in schema.read_tables(session, database):
                    entry = manifest["tables"].get(table.key)
                    if entry is None:
                        problems.append(f"{table.key}: not in the manifest")
                        continue
                    with gzip.open(root / entry["file"], "rb") as data:
                        session.load_stream(partial(load_data_sql, table),
                                            partial(_pump, data))
                    restored = chunk_checksum(session, table, Chunk(0))
                    rows += restored[0]
                    if restored != entry["checksum"]:
                        problems.append(f"{table.key}: restored {restored[0]} rows, "
                                        f"checksum differs from the manifest "
                                        f"({entry['rows']} rows)")
                missing = set(k for k in manifest["tables"] if k.split(".", 1)[0] == database)
                missing -= {t.key for t in schema.read_tables(session, database)}
                problems += [f"{key}: table not restored" for key in sorted(missing)]
        for entry in manifest["files"]:
            if entry["kind"] in ("objects", "accounts"):
                _run_script(endpoint, root / entry["path"], base)
    finally:
        server.stop()
        if not keep:
            shutil.rmtree(base if own_dir else base / "mariadb", ignore_errors=True)
    report = {"backup": str(root), "equal": not problems, "tables": len(manifest["tables"]),
              "rows": rows, "problems": problems,
              "seconds": round(time.monotonic() - started, 2)}
    if problems:
        raise verification_failed(f"restore test of {root}: " + "; ".join(problems[:20]))
    return report


def _pump(source: Any, write: Any) -> None:
    for block in iter(lambda: source.read(_READ), b""):
        write(block)


def _run_script(endpoint: DbEndpoint, script: Path, workdir: Path) -> None:
    fd, option_path = tempfile.mkstemp(prefix=".restore-", suffix=".cnf", dir=workdir)
    with os.fdopen(fd, "w") as handle:
        handle.write(f'[client]\npassword="{endpoint.password}"\n')
    try:
        pipe_tools(["gzip", "-dc", str(script)],
                   [client_binary(), f"--defaults-extra-file={option_path}",
                    f"--host={endpoint.host}", f"--port={endpoint.port}",
                    f"--user={endpoint.user}", "--protocol=TCP", "--binary-mode",
                    "--default-character-set=utf8mb4"],
                   what=f"restore {script.name}")
    except DbStepFailed:
        raise
    finally:
        Path(option_path).unlink(missing_ok=True)
