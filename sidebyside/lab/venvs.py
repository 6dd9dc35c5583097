"""Service virtualenvs built with uv from the committed locks (adapter: runs uv).

A venv lives at `<cache>/venvs/<service>-<release>-<lockhash>/` and counts as built
only once `.sbs-complete` is written in it, so an interrupted build is redone rather
than reused. Venvs are not relocatable (scripts carry absolute shebangs), so they are
built in place, under a file lock against a concurrent `lab up`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sidebyside.errors import InputError, StepFailed
from sidebyside.lab.lockfiles import PYTHON_VERSION, read_lock, venv_dir
from sidebyside.lab.releases import BUILD_CONSTRAINTS

log = logging.getLogger(__name__)
COMPLETE_MARKER = ".sbs-complete"


@dataclass(frozen=True)
class Venv:
    service: str
    release: str
    path: Path
    built: bool  # False when an existing cached venv was reused
    seconds: float

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"


def _python_for_uv() -> str:
    """This interpreter when it is the lab's python version (uv must not download one)."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == PYTHON_VERSION:
        return sys.executable
    return PYTHON_VERSION


def _uv_command() -> list[str]:
    """uv on PATH, else the binary of the `uv` package installed into this python.

    Raises InputError when neither exists.
    """
    found = shutil.which("uv")
    if found:
        return [found]
    # A project venv (make setup's .venv) may lack uv while its base python has it.
    for prefix in {sys.prefix, sys.base_prefix}:
        candidate = Path(prefix) / "bin" / "uv"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate)]
    try:
        import uv  # type: ignore[import-not-found]

        return [str(uv.find_uv_bin())]
    except (ImportError, FileNotFoundError):
        raise InputError("uv is not installed (pip install uv; `make setup` does it): the "
                         "lab builds its service venvs with it") from None


def is_complete(path: Path) -> bool:
    return (path / COMPLETE_MARKER).is_file() and (path / "bin" / "python").exists()


def ensure_venv(service: str, release_name: str, cache_root: Path) -> Venv:
    """The venv of `service` at `release_name`, built from its lock unless cached.

    Raises InputError (no lock for it) or StepFailed (uv failed; its output tail in
    the message).
    """
    lock_text = read_lock(service, release_name)
    path = venv_dir(cache_root, service, release_name, lock_text)
    started = time.monotonic()
    if is_complete(path):
        return Venv(service, release_name, path, built=False, seconds=0.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f"{path.name}.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if is_complete(path):  # built by a concurrent lab up while we waited
            return Venv(service, release_name, path, built=False,
                        seconds=time.monotonic() - started)
        if path.exists():
            log.info("removing incomplete venv %s", path)
            shutil.rmtree(path)
        log.info("building venv %s", path)
        lock_copy = path.parent / f"{path.name}.requirements.txt"
        lock_copy.write_text(lock_text)
        build_constraints = path.parent / f"{path.name}.build-constraints.txt"
        build_constraints.write_text("\n".join(BUILD_CONSTRAINTS) + "\n")
        uv = _uv_command()
        _uv([*uv, "venv", "--quiet", "--python", _python_for_uv(), str(path)],
            f"{service} {release_name}")
        _uv([*uv, "pip", "install", "--quiet", "--python", str(path / "bin" / "python"),
             "--no-deps", "--build-constraints", str(build_constraints),
             "-r", str(lock_copy)], f"{service} {release_name}")
        shutil.move(str(lock_copy), str(path / "sbs-lock.txt"))
        build_constraints.unlink()
        (path / COMPLETE_MARKER).write_text(f"{service} {release_name}\n")
    return Venv(service, release_name, path, built=True,
                seconds=time.monotonic() - started)


def _uv(argv: list[str], what: str) -> None:
    step = f"lab-venv-{what.replace(' ', '-')}"
    action = "uv pip install" if "install" in argv else "uv venv"
    try:
        subprocess.run(argv, check=True, capture_output=True, text=True, timeout=900)
    except subprocess.CalledProcessError as exc:
        tail = "\n".join((exc.stderr or exc.stdout or "").strip().splitlines()[-15:])
        raise StepFailed(step, f"`{action}` for {what} exited {exc.returncode}: {tail}"
                         ) from None
    except subprocess.TimeoutExpired:
        raise StepFailed(step, f"`{action}` for {what} timed out after 900 s") from None
