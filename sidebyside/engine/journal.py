"""The on-disk journal: every run and every step, before and after it happens.

SQLite in WAL mode, one file per environment (`<state-dir>/journal.db`). Each
transition is committed before the step's effect starts or right after it ends,
so a SIGKILL at any point leaves a journal that says exactly what was under way.
Everything written here is redacted first.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from sidebyside import __version__
from sidebyside.engine.private import make_private_if_present, private_dir, private_file
from sidebyside.errors import InputError
from sidebyside.redact import redact, redact_obj

OUTPUT_TAIL_CHARS = 4000


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


# Statuses journals may hold that this code no longer writes, and what they read as.
# "undone" (a step whose effect was reversed) was never written by a run: no step had
# an undo that ran. It reads as pending, what such a step is: a resume runs it again.
_RETIRED_STATUSES = {"undone": StepStatus.PENDING}


class RunStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    ROLLED_BACK = "rolled-back"


# Which step transitions are legal; anything else is a bug in the caller.
_TRANSITIONS: dict[StepStatus, set[StepStatus]] = {
    StepStatus.PENDING: {StepStatus.RUNNING, StepStatus.SKIPPED},
    StepStatus.RUNNING: {StepStatus.DONE, StepStatus.FAILED, StepStatus.RUNNING,
                         StepStatus.PENDING},
    StepStatus.FAILED: {StepStatus.RUNNING, StepStatus.SKIPPED},
    StepStatus.DONE: {StepStatus.RUNNING},
    StepStatus.SKIPPED: {StepStatus.RUNNING},
}

# The journal's layout, in PRAGMA user_version. Journals written before it was recorded
# say 0 and have version 1's layout. One newer than this code knows is refused, never
# read or written: this code cannot tell what its runs meant.
SCHEMA_VERSION = 2
#   1  runs, steps, events, facts
#   2  runs.fingerprint: what the run depends on in the inventory (engine/fingerprint.py)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    command TEXT NOT NULL,
    environment TEXT NOT NULL,
    status TEXT NOT NULL,
    started REAL NOT NULL,
    ended REAL,
    user TEXT, host TEXT, pid INTEGER,
    argv TEXT,
    plan TEXT NOT NULL,
    rc INTEGER,
    error TEXT,
    fingerprint TEXT
);
CREATE TABLE IF NOT EXISTS steps (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    step_id TEXT NOT NULL,
    action TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    started REAL,
    ended REAL,
    output_tail TEXT NOT NULL DEFAULT '',
    error TEXT,
    result TEXT,
    PRIMARY KEY (run_id, step_id)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL,
    step_id TEXT,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    data TEXT
);
CREATE TABLE IF NOT EXISTS facts (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    at REAL NOT NULL
);
"""


class UnusableJournal(InputError):
    """The journal file cannot be used: not a journal, damaged, or from a newer sbs."""

    kind = "unusable-journal"


@dataclass(frozen=True)
class StepRecord:
    run_id: int
    seq: int
    step_id: str
    action: str
    title: str
    status: StepStatus
    attempts: int
    started: float | None
    ended: float | None
    output_tail: str
    error: str | None
    result: dict[str, Any] | None

    @property
    def duration(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started


@dataclass(frozen=True)
class RunRecord:
    id: int
    command: str
    environment: str
    status: RunStatus
    started: float
    ended: float | None
    user: str
    host: str
    pid: int
    rc: int | None
    error: str | None
    plan: list[dict[str, Any]]
    # What the run depends on in the inventory; None for runs journaled before it was kept.
    fingerprint: dict[str, str] | None = None


class Journal:
    """Durable record of runs and steps. Not thread-safe: one per process."""

    def __init__(self, state_dir: Path) -> None:
        """Open (or create) the journal in `state_dir`, making both private.

        Raises UnusableJournal (exit 2) naming the file when it is not a journal, is
        damaged, or was written by a newer sbs; InputError when the state dir or the
        journal cannot be made private.
        """
        self.state_dir = private_dir(state_dir)
        self.path = state_dir / "journal.db"
        # Created 0600 before SQLite opens it: SQLite gives the -wal and -shm it creates
        # the database file's mode. Ones left by an earlier process keep theirs: set it.
        private_file(self.path)
        self._set_wal_modes()
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        try:
            self._db.row_factory = sqlite3.Row
            self._schema_version()  # before anything is written: a newer journal stays as is
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._upgrade_schema()
            self._check_intact()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise self._unusable(exc) from None
        except BaseException:
            self._db.close()
            raise
        self._set_wal_modes()

    def _upgrade_schema(self) -> None:
        """Create the tables of a new journal, bring an older one to SCHEMA_VERSION.

        Raises UnusableJournal for a journal of a newer sbs.
        """
        if self._schema_version() == SCHEMA_VERSION:
            return
        with self._tx() as db:  # one process at a time, so two never upgrade at once
            if self._schema_version() == SCHEMA_VERSION:
                return
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            columns = {row["name"] for row in db.execute("PRAGMA table_info(runs)")}
            if "fingerprint" not in columns:
                db.execute("ALTER TABLE runs ADD COLUMN fingerprint TEXT")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _schema_version(self) -> int:
        """Raises UnusableJournal for a journal of a newer sbs."""
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise UnusableJournal(
                f"journal {self.path} was written by a newer sbs (journal format "
                f"{version}; this sbs {__version__} knows formats up to {SCHEMA_VERSION})",
                hint="use the sbs that wrote it (or a newer one) for this environment; "
                     "the journal was left unchanged")
        return version

    def _check_intact(self) -> None:
        problems = [row[0] for row in self._db.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise sqlite3.DatabaseError("; ".join(problems[:3]))

    def _unusable(self, exc: sqlite3.DatabaseError) -> InputError:
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_BUSY":
            return InputError(f"journal {self.path}: another process keeps it busy ({exc})",
                              hint="wait for the other sbs command to finish, then re-run")
        return UnusableJournal(
            f"journal {self.path} is not a readable sbs journal ({exc})",
            hint="it is damaged or not a journal: restore it from a copy if you have one; "
                 "or move it aside (keep it: it is the record of earlier runs) and re-run, "
                 "which starts from an empty journal: no earlier run is resumed")

    def _set_wal_modes(self) -> None:
        for suffix in ("-wal", "-shm"):
            make_private_if_present(self.path.with_name(self.path.name + suffix))

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # runs ---------------------------------------------------------------
    def start_run(self, command: str, environment: str, plan: list[dict[str, Any]],
                  argv: list[str] | None = None,
                  fingerprint: Mapping[str, str] | None = None) -> int:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO runs (command, environment, status, started, user, host, pid,"
                " argv, plan, fingerprint) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (command, environment, RunStatus.RUNNING, time.time(), getpass.getuser(),
                 socket.gethostname(), os.getpid(), redact(json.dumps(argv or [])),
                 json.dumps(redact_obj(plan)),
                 None if fingerprint is None else json.dumps(redact_obj(dict(fingerprint)))))
            run_id = int(cur.lastrowid or 0)
            for seq, step in enumerate(plan):
                db.execute(
                    "INSERT INTO steps (run_id, seq, step_id, action, title, status)"
                    " VALUES (?,?,?,?,?,?)",
                    (run_id, seq, step["id"], step["action"], step["title"],
                     StepStatus.PENDING))
        self.event(run_id, None, "run-started", {"command": command})
        return run_id

    def adopt_run(self, run_id: int) -> None:
        """A resumed run now belongs to this process."""
        with self._tx() as db:
            db.execute("UPDATE runs SET status=?, pid=?, ended=NULL, rc=NULL, error=NULL"
                       " WHERE id=?", (RunStatus.RUNNING, os.getpid(), run_id))
        self.event(run_id, None, "run-resumed", {"pid": os.getpid()})

    def finish_run(self, run_id: int, status: RunStatus, rc: int,
                   error: str | None = None) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET status=?, ended=?, rc=?, error=? WHERE id=?",
                       (status, time.time(), rc, redact(error) if error else None, run_id))
        self.event(run_id, None, "run-finished", {"status": status, "rc": rc})

    def run(self, run_id: int) -> RunRecord:
        row = self._db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(run_id)
        return _run_record(row)

    def runs(self, command: str | None = None) -> list[RunRecord]:
        if command:
            rows = self._db.execute("SELECT * FROM runs WHERE command=? ORDER BY id",
                                    (command,)).fetchall()
        else:
            rows = self._db.execute("SELECT * FROM runs ORDER BY id").fetchall()
        return [_run_record(r) for r in rows]

    def latest_run(self, command: str | None = None) -> RunRecord | None:
        runs = self.runs(command)
        return runs[-1] if runs else None

    def unfinished_run(self, command: str) -> RunRecord | None:
        """The latest run of `command` that did not end done (to resume)."""
        run = self.latest_run(command)
        if run and run.status not in (RunStatus.DONE, RunStatus.ROLLED_BACK):
            return run
        return None

    # steps --------------------------------------------------------------
    def steps(self, run_id: int) -> list[StepRecord]:
        rows = self._db.execute("SELECT * FROM steps WHERE run_id=? ORDER BY seq",
                                (run_id,)).fetchall()
        return [_step_record(r) for r in rows]

    def step(self, run_id: int, step_id: str) -> StepRecord:
        row = self._db.execute("SELECT * FROM steps WHERE run_id=? AND step_id=?",
                               (run_id, step_id)).fetchone()
        if row is None:
            raise KeyError(step_id)
        return _step_record(row)

    def transition(self, run_id: int, step_id: str, new: StepStatus, *,
                   output: str | None = None, error: str | None = None,
                   result: dict[str, Any] | None = None) -> None:
        """Move a step to `new`, committing before returning.

        Raises ValueError for an illegal transition (a bug, not an operator error).
        """
        current = self.step(run_id, step_id).status
        if new not in _TRANSITIONS[current]:
            raise ValueError(f"step {step_id}: illegal transition {current} -> {new}")
        now = time.time()
        fields: dict[str, Any] = {"status": new}
        if new == StepStatus.RUNNING:
            fields["started"] = now
            fields["ended"] = None
            fields["error"] = None
        elif new in (StepStatus.DONE, StepStatus.FAILED, StepStatus.SKIPPED):
            fields["ended"] = now
        if output is not None:
            fields["output_tail"] = redact(output)[-OUTPUT_TAIL_CHARS:]
        if error is not None:
            fields["error"] = redact(error)
        if result is not None:
            fields["result"] = json.dumps(redact_obj(result), default=str)
        assignments = ", ".join(f"{k}=?" for k in fields)
        with self._tx() as db:
            if new == StepStatus.RUNNING:
                db.execute("UPDATE steps SET attempts = attempts + 1"
                           " WHERE run_id=? AND step_id=?", (run_id, step_id))
            db.execute(f"UPDATE steps SET {assignments} WHERE run_id=? AND step_id=?",
                       (*fields.values(), run_id, step_id))
        self.event(run_id, step_id, f"step-{new}", {"error": error} if error else None)

    def event(self, run_id: int, step_id: str | None, kind: str,
              data: dict[str, Any] | None = None) -> None:
        self._db.execute("INSERT INTO events (run_id, step_id, at, kind, data)"
                         " VALUES (?,?,?,?,?)",
                         (run_id, step_id, time.time(), kind,
                          json.dumps(redact_obj(data), default=str) if data else None))

    def events(self, run_id: int) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM events WHERE run_id=? ORDER BY id",
                                (run_id,)).fetchall()
        return [dict(r) for r in rows]

    # facts: small durable key/values steps hand to later steps and commands
    def set_fact(self, key: str, value: Any) -> None:
        self._db.execute("INSERT INTO facts (key, value, at) VALUES (?,?,?) ON CONFLICT(key)"
                         " DO UPDATE SET value=excluded.value, at=excluded.at",
                         (key, json.dumps(redact_obj(value), default=str), time.time()))

    def fact(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM facts WHERE key=?", (key,)).fetchone()
        return json.loads(row["value"]) if row else default

    def facts_under(self, prefix: str) -> dict[str, tuple[Any, float]]:
        """key -> (value, when it was set) for every fact whose key starts with prefix."""
        rows = self._db.execute("SELECT key, value, at FROM facts WHERE substr(key, 1, ?) = ?"
                                " ORDER BY at", (len(prefix), prefix)).fetchall()
        return {row["key"]: (json.loads(row["value"]), row["at"]) for row in rows}

    def step_durations(self, command: str | None = None) -> dict[str, float]:
        """Latest successful duration of every step id (for window estimates)."""
        query = ("SELECT s.step_id, s.started, s.ended FROM steps s JOIN runs r"
                 " ON r.id = s.run_id WHERE s.status = 'done' AND s.ended IS NOT NULL")
        args: tuple[Any, ...] = ()
        if command:
            query += " AND r.command = ?"
            args = (command,)
        query += " ORDER BY s.ended"
        return {row["step_id"]: row["ended"] - row["started"]
                for row in self._db.execute(query, args)}


def _run_record(row: sqlite3.Row) -> RunRecord:
    return RunRecord(id=row["id"], command=row["command"], environment=row["environment"],
                     status=RunStatus(row["status"]), started=row["started"],
                     ended=row["ended"], user=row["user"] or "", host=row["host"] or "",
                     pid=row["pid"] or 0, rc=row["rc"], error=row["error"],
                     plan=json.loads(row["plan"]),
                     fingerprint=json.loads(row["fingerprint"]) if row["fingerprint"] else None)


def _step_record(row: sqlite3.Row) -> StepRecord:
    return StepRecord(run_id=row["run_id"], seq=row["seq"], step_id=row["step_id"],
                      action=row["action"], title=row["title"],
                      status=_step_status(row["status"]), attempts=row["attempts"],
                      started=row["started"], ended=row["ended"],
                      output_tail=row["output_tail"], error=row["error"],
                      result=json.loads(row["result"]) if row["result"] else None)


def _step_status(stored: str) -> StepStatus:
    """Raises ValueError for a status no sbs ever wrote (a damaged journal)."""
    return _RETIRED_STATUSES.get(stored) or StepStatus(stored)
