"""The copy's state file: what was copied and verified, chunk by chunk.

It makes a killed copy resumable (only what is not verified is copied again) and it is
the verdict the rest of sbs consults before db_sync or cutover: `copy_is_verified`.
Written atomically (temporary file, fsync, rename) after every chunk.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from sidebyside.db.errors import VerificationError

STATE_FILE = "db-copy.json"
FORMAT = 1

# status values of the whole copy
COPYING, VERIFIED, FAILED, MISMATCH = "copying", "verified", "failed", "mismatch"


class CopyState:
    """A JSON document guarded by a lock (the copy's worker threads share it)."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data
        self._lock = threading.Lock()

    @classmethod
    def load(cls, state_dir: Path) -> CopyState:
        path = Path(state_dir) / STATE_FILE
        try:
            data = json.loads(path.read_text())
            if data.get("format") != FORMAT:
                data = {}
        except (OSError, ValueError):
            data = {}
        return cls(path, data)

    # -- identity ---------------------------------------------------------------
    def matches(self, source: str, target: str, databases: list[str]) -> bool:
        return (self.data.get("source") == source and self.data.get("target") == target
                and self.data.get("databases") == databases)

    def begin(self, source: str, target: str, databases: list[str]) -> None:
        with self._lock:
            self.data = {"format": FORMAT, "source": source, "target": target,
                         "databases": databases, "status": COPYING,
                         "started": time.time(), "tables": {}, "objects_done": [],
                         "snapshot": None, "error": None}
        self.save()

    @property
    def status(self) -> str | None:
        return self.data.get("status")

    def set_status(self, status: str, error: str | None = None) -> None:
        with self._lock:
            self.data["status"] = status
            self.data["error"] = error
            self.data["updated"] = time.time()
        self.save()

    # -- tables and chunks ---------------------------------------------------------
    def table(self, key: str) -> dict[str, Any]:
        with self._lock:
            return self.data.setdefault("tables", {}).setdefault(
                key, {"created": False, "deferred": [], "chunks": None, "verified": {},
                      "post_done": False})

    def update_table(self, key: str, **values: Any) -> None:
        with self._lock:
            self.data.setdefault("tables", {}).setdefault(key, {}).update(values)
        self.save()

    def chunk_verified(self, key: str, index: int) -> dict[str, Any] | None:
        with self._lock:
            found = self.data.get("tables", {}).get(key, {}).get("verified", {}).get(str(index))
            return dict(found) if found else None

    def mark_chunk(self, key: str, index: int, checksum: list[int] | None) -> None:
        with self._lock:
            verified = self.data["tables"][key].setdefault("verified", {})
            if checksum is None:
                verified.pop(str(index), None)
            else:
                verified[str(index)] = {"checksum": checksum, "at": time.time()}
        self.save()

    def set_snapshot(self, snapshot: dict[str, Any]) -> None:
        with self._lock:
            self.data["snapshot"] = snapshot
        self.save()

    def save(self) -> None:
        with self._lock:
            text = json.dumps(self.data, indent=1, sort_keys=True)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".tmp{threading.get_ident()}")
            with open(tmp, "w") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)


def copy_is_verified(state_dir: Path, databases: list[str] | None = None, *,
                     target: str | None = None) -> bool:
    """True when the copy recorded in `state_dir` finished and verified equal.

    `databases`: each must be part of that copy. `target`: the target URL
    (mysql://user@host:port) must be the one copied to.
    """
    state = CopyState.load(state_dir)
    if state.status != VERIFIED:
        return False
    if target is not None and state.data.get("target") != target:
        return False
    return not databases or set(databases) <= set(state.data.get("databases", []))


def require_verified(state_dir: Path, databases: list[str] | None = None, *,
                     target: str | None = None) -> None:
    """Raise VerificationError unless `copy_is_verified` (for db_sync and cutover)."""
    if not copy_is_verified(state_dir, databases, target=target):
        state = CopyState.load(state_dir)
        status = state.status or "no copy recorded"
        raise VerificationError(
            f"{Path(state_dir) / STATE_FILE}: the database copy is not verified "
            f"(status: {status}); nothing may run on it",
            hint="run the copy again; it resumes and re-verifies")
