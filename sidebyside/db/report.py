"""Progress events and the JSON-able summaries of copy and verify."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ProgressEvent:
    """What a progress callback receives.

    kind: "plan" (totals known: total_rows/total_bytes over every table),
          "table" (a table starts: its estimates in total_rows/total_bytes),
          "data" (rows/bytes just moved for `table`; bytes arrive while streaming,
                 rows when a chunk is committed),
          "table-done", "phase" (message names it: schema, snapshot, indexes,
                 objects, accounts, verify), "done".
    """

    kind: str
    table: str | None = None
    rows: int = 0
    bytes: int = 0
    total_rows: int = 0
    total_bytes: int = 0
    message: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


def no_progress(_event: ProgressEvent) -> None:
    return None


class Throttled:
    """Coalesces "data" byte events to at most one per interval per table."""

    def __init__(self, callback: ProgressCallback, interval: float = 0.2) -> None:
        self.callback = callback
        self.interval = interval
        self._lock = threading.Lock()
        self._pending: dict[str, int] = {}
        self._last: dict[str, float] = {}

    def data_bytes(self, table: str, count: int) -> None:
        with self._lock:
            self._pending[table] = self._pending.get(table, 0) + count
            now = time.monotonic()
            if now - self._last.get(table, 0.0) < self.interval:
                return
            self._last[table] = now
            pending, self._pending[table] = self._pending[table], 0
        self.callback(ProgressEvent("data", table, bytes=pending))

    def flush(self, table: str, rows: int = 0) -> None:
        with self._lock:
            pending, self._pending[table] = self._pending.get(table, 0), 0
        self.callback(ProgressEvent("data", table, rows=rows, bytes=pending))


@dataclass
class TableReport:
    table: str
    rows: int = 0
    bytes: int = 0
    chunks: int = 0
    chunks_copied: int = 0
    chunks_skipped: int = 0        # verified by an earlier, interrupted run
    seconds: float = 0.0
    index_seconds: float = 0.0     # building the deferred indexes and foreign keys
    verified: bool = False


@dataclass
class CopyReport:
    source: str
    target: str
    databases: list[str]
    status: str = "copying"
    resumed: bool = False
    snapshot: dict[str, Any] | None = None
    tables: list[TableReport] = field(default_factory=list)
    objects: dict[str, int] = field(default_factory=dict)
    accounts: list[str] = field(default_factory=list)
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    state_file: str = ""

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.tables)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows"] = self.rows
        data["bytes"] = self.bytes
        seconds = max(self.seconds, 1e-9)
        data["rows_per_second"] = round(self.rows / seconds)
        data["megabytes_per_second"] = round(self.bytes / seconds / 1e6, 2)
        data["seconds"] = round(self.seconds, 2)
        data["phases"] = {k: round(v, 2) for k, v in self.phases.items()}
        for table in data["tables"]:
            table["seconds"] = round(table["seconds"], 2)
            table["index_seconds"] = round(table["index_seconds"], 2)
        return data


@dataclass
class VerifyReport:
    source: str
    target: str
    databases: list[str]
    equal: bool = True
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 2)
        return data
