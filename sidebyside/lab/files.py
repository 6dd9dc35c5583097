"""Writing the lab's files: whole files and symlinks replaced atomically (adapter)."""

from __future__ import annotations

import os
from pathlib import Path


def write_file(path: Path, text: str, mode: int = 0o640) -> None:
    """Write `text` to `path` (parents created) through a temporary file renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def link(link_path: Path, target: Path) -> bool:
    """Point `link_path` at `target` atomically; True when that changed anything."""
    if link_path.is_symlink() and Path(os.readlink(link_path)) == target:
        return False
    link_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = link_path.with_name(f".{link_path.name}.sbs-tmp")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(target)
    os.replace(temporary, link_path)
    return True
