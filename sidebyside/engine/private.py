"""Directories and files only the operator can read: the state dir and what it holds.

The state dir keeps the journal, backups of the old databases (with their service
accounts' password hashes) and rollback exports. The process umask (077, set at start)
covers what sbs creates, but a directory or file that already existed keeps whatever
mode it had: so each opener also sets the mode, every time.
"""

from __future__ import annotations

import os
from pathlib import Path

from sidebyside.errors import InputError

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) if needed and make it 0700, whatever it was.

    Returns `path`. Raises InputError when it is not a directory or cannot be made private.
    """
    try:
        path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        os.chmod(path, PRIVATE_DIR_MODE)
    except FileExistsError:
        raise InputError(f"state dir {path} exists and is not a directory",
                         hint="point --state-dir elsewhere, or move that file away") from None
    except OSError as exc:
        raise InputError(f"state dir {path}: cannot make it private: {exc.strerror}",
                         hint="it must be a directory this user owns") from None
    return path


def private_file(path: Path) -> None:
    """Create `path` as an empty 0600 file if missing; make an existing one 0600.

    Raises InputError when it cannot be created or its mode cannot be set.
    """
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE))
        os.chmod(path, PRIVATE_FILE_MODE)
    except OSError as exc:
        raise InputError(f"{path}: cannot make it private: {exc.strerror}",
                         hint="it must be a regular file this user owns") from None


def make_private_if_present(path: Path) -> None:
    """Set an existing file to 0600 (one that may or may not have been created yet)."""
    try:
        os.chmod(path, PRIVATE_FILE_MODE)
    except FileNotFoundError:
        pass
