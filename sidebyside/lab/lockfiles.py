"""Lock files and venv keys: pure logic, no effects.

A lock is a pip requirements file pinning every distribution of one service of one
release (`sidebyside/lab/locks/<service>-<release>.txt`). A venv built from it is
cached under `<cache>/venvs/<service>-<release>-<lockhash>/`: a changed lock gives a
new key, so a stale venv is never reused.
"""

from __future__ import annotations

import hashlib
import os
import re
from importlib import resources
from pathlib import Path

from sidebyside.errors import InputError
from sidebyside.lab.releases import extra_requirements, release

LOCKS_PACKAGE = "sidebyside.lab.locks"
PYTHON_VERSION = "3.11"
_PIN_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#]+)")


def lock_name(service: str, release_name: str) -> str:
    return f"{service}-{release_name}.txt"


def lock_header(service: str, release_name: str) -> str:
    rel = release(release_name)
    sources = [rel.requirement(service), *extra_requirements(service)]
    return (f"# sbs lab lock: {service} of OpenStack {release_name} ({rel.series}), python "
            f"{PYTHON_VERSION}\n"
            f"# compiled from: {', '.join(sources)}\n"
            f"#   with the upper-constraints of {release_name}\n"
            f"# regenerate with: python scripts/lab_make_locks.py\n")


def read_lock(service: str, release_name: str) -> str:
    """The committed lock text. Raises InputError when the lab has no lock for it."""
    release(release_name)  # unknown release -> InputError naming the known ones
    resource = resources.files(LOCKS_PACKAGE).joinpath(lock_name(service, release_name))
    try:
        return resource.read_text()
    except FileNotFoundError:
        raise InputError(f"no lock file {lock_name(service, release_name)} in "
                         f"sidebyside/lab/locks: the lab cannot install {service} "
                         f"{release_name} (run scripts/lab_make_locks.py)") from None


def lock_pins(lock_text: str) -> dict[str, str]:
    """Normalised distribution name -> pinned version, from a lock's text."""
    pins: dict[str, str] = {}
    for line in lock_text.splitlines():
        match = _PIN_RE.match(line.strip())
        if match:
            pins[normalise(match.group(1))] = match.group(2)
    return pins


def normalise(distribution: str) -> str:
    """PEP 503 normalised name."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def lock_hash(lock_text: str) -> str:
    """A short digest of what a lock installs (pins only: comments do not count)."""
    pins = lock_pins(lock_text)
    canonical = "\n".join(f"{name}=={version}" for name, version in sorted(pins.items()))
    return hashlib.sha256(f"python{PYTHON_VERSION}\n{canonical}".encode()).hexdigest()[:12]


def venv_key(service: str, release_name: str, lock_text: str) -> str:
    return f"{service}-{release_name}-{lock_hash(lock_text)}"


def default_cache_root() -> Path:
    """`$SBS_CACHE_DIR`, else `$XDG_CACHE_HOME/sbs`, else `~/.cache/sbs`."""
    if os.environ.get("SBS_CACHE_DIR"):
        return Path(os.environ["SBS_CACHE_DIR"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "sbs"


def venv_dir(cache_root: Path, service: str, release_name: str, lock_text: str) -> Path:
    return cache_root / "venvs" / venv_key(service, release_name, lock_text)
