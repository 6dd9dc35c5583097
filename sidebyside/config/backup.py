"""Backups of the old controllers' service configuration and key repositories.

prepare backs up, before anything is written, every file the config step will carry
(collect: each service's config files, drop-ins, key repositories and the TLS files
its options name, as services.yaml lists them), from every old controller, which is
only read. Layout, under the backup directory:

    configs/manifest.json                    every file and directory, with sha256
    configs/<controller>/<path>              the files (0600), in directories 0700

The manifest keeps each file's original owner, group and mode (what a restore on the
controller would put back); the copies here are private whatever they were there.
Verification re-reads every copy and compares its sha256; the restore test writes
every file to a scratch directory from the backup alone and compares again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sidebyside.config.collect import collect
from sidebyside.errors import InputError, VerificationError
from sidebyside.remote.base import Host

CONFIGS = "configs"
MANIFEST = "manifest.json"
FORMAT = 1


@dataclass(frozen=True)
class Source:
    """One old controller: its inventory name, its Host, its root prefix."""

    name: str
    host: Host
    root: str = "/"


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _relative(controller: str, path: str) -> str:
    """Where a controller's file lives under configs/. Raises VerificationError for a
    name or path that would leave it (a tampered manifest, or a hostile file name)."""
    parts = PurePosixPath(path.lstrip("/")).parts
    if not controller or "/" in controller or controller in (".", "..") \
            or not parts or any(p in ("", ".", "..") for p in parts):
        raise VerificationError(f"config backup: {controller}:{path} is not a path inside "
                                "the backup")
    return str(PurePosixPath(controller, *parts))


def _private_dir(path: Path) -> None:
    """path and every directory created on the way to it: 0700 whatever the umask
    (mkdir's parents=True gives the missing parents the umask's mode)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
    os.chmod(path, 0o700)


def _write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """A new file (never through a symlink, never over an existing file)."""
    _private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def backup_configs(sources: Sequence[Source], services: Sequence[str],
                   backup_dir: Path) -> dict[str, Any]:
    """Copy every service's configuration and key repositories from each source into
    backup_dir/configs with a sha256 manifest. Returns the manifest.

    Raises InputError (backup_dir/configs exists and is not empty), VerificationError
    (a required config file is missing on a controller, or a path would leave the
    backup), RemoteError (a controller failed).
    """
    root = Path(backup_dir) / CONFIGS
    if root.exists() and any(root.iterdir()):
        raise InputError(f"config backup directory {root} is not empty")
    _private_dir(root)
    started = time.monotonic()
    entries: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for source in sources:
        for service in services:
            collected = collect(source.host, service, root=source.root)
            for entry in collected.manifest.entries:
                if (source.name, entry.path) in seen:
                    continue
                seen.add((source.name, entry.path))
                relative = _relative(source.name, entry.path)
                record: dict[str, Any] = {
                    "controller": source.name, "service": service, "path": entry.path,
                    "kind": entry.kind, "owner": entry.owner, "group": entry.group,
                    "mode": f"{entry.mode:04o}"}
                if entry.is_dir:
                    _private_dir(root / relative)
                else:
                    data = collected.contents[entry.path]
                    _write_private(root / relative, data)
                    record.update(file=relative, size=len(data),
                                  sha256=hashlib.sha256(data).hexdigest())
                entries.append(record)
    manifest = {"format": FORMAT, "created": time.time(),
                "controllers": [s.name for s in sources], "services": list(services),
                "entries": entries, "seconds": round(time.monotonic() - started, 2)}
    _write_private(root / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
    return manifest


def manifest_sha256(backup_dir: Path) -> str:
    """sha256 of the config manifest itself (kept in the journal: a manifest edited to
    match edited files is caught too). Raises VerificationError when unreadable."""
    path = Path(backup_dir) / CONFIGS / MANIFEST
    try:
        return _sha256(path)
    except OSError as exc:
        raise VerificationError(f"config backup {path}: {exc.strerror}") from None


def check_config_backup(backup_dir: Path, *, expected_manifest_sha256: str | None = None
                        ) -> dict[str, Any]:
    """Re-read every file of the config backup and compare its sha256 with the
    manifest (and the manifest's own with expected_manifest_sha256 when given); a file
    in the backup that the manifest does not list is a difference too. Returns the
    manifest.

    Raises VerificationError (exit 9) naming every difference.
    """
    root = Path(backup_dir) / CONFIGS
    path = root / MANIFEST
    try:
        manifest: dict[str, Any] = json.loads(path.read_bytes())
        entries = list(manifest["entries"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise VerificationError(f"config backup {path}: not a readable manifest "
                                f"({type(exc).__name__})") from None
    problems: list[str] = []
    if expected_manifest_sha256 is not None and _sha256(path) != expected_manifest_sha256:
        problems.append(f"{MANIFEST}: sha256 differs from the one recorded when the "
                        "backup was taken")
    listed = {MANIFEST}
    for entry in entries:
        if "sha256" not in entry:
            continue
        relative = _relative(str(entry.get("controller", "")), str(entry.get("path", "")))
        listed.add(relative)
        copy = root / relative
        if copy.is_symlink() or not copy.is_file():
            problems.append(f"{relative}: missing")
        elif _sha256(copy) != entry["sha256"]:
            problems.append(f"{relative}: sha256 differs")
    for found in sorted(root.rglob("*")):
        relative = str(found.relative_to(root))
        if (found.is_file() or found.is_symlink()) and relative not in listed:
            problems.append(f"{relative}: not in the manifest")
    if problems:
        raise VerificationError(f"config backup {root}: " + "; ".join(problems[:20]),
                                hint="take a new backup: re-run prepare's backup step")
    return manifest


def restore_test(backup_dir: Path, *, scratch_dir: Path | None = None) -> dict[str, Any]:
    """Restore every file of the config backup into a scratch directory from the
    backup alone (its mode as on the controller), re-read each and compare with the
    manifest. The scratch directory is removed afterwards.

    Returns {"equal": True, "files": n, "bytes": n, "seconds": s}. Raises
    VerificationError naming every difference.
    """
    started = time.monotonic()
    root = Path(backup_dir) / CONFIGS
    manifest = check_config_backup(backup_dir)
    if scratch_dir is not None:
        _private_dir(Path(scratch_dir))
    base = Path(tempfile.mkdtemp(prefix="sbs-config-restore-",
                                 dir=str(scratch_dir) if scratch_dir else None))
    problems: list[str] = []
    files = size = 0
    try:
        for entry in manifest["entries"]:
            relative = _relative(entry["controller"], entry["path"])
            if "sha256" not in entry:
                _private_dir(base / relative)
                continue
            mode = int(entry["mode"], 8) & 0o777 | 0o600  # readable back by us
            _write_private(base / relative, (root / relative).read_bytes(), mode)
            restored = base / relative
            files += 1
            size += restored.stat().st_size
            if _sha256(restored) != entry["sha256"]:
                problems.append(f"{relative}: restored content differs from the manifest")
            if restored.stat().st_mode & 0o777 != mode:
                problems.append(f"{relative}: restored mode "
                                f"{restored.stat().st_mode & 0o777:04o} != {mode:04o}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if problems:
        raise VerificationError(f"restore test of {root}: " + "; ".join(problems[:20]))
    return {"equal": True, "files": files, "bytes": size,
            "seconds": round(time.monotonic() - started, 2)}
