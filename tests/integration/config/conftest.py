"""Fixtures for the config integration tests: a venv with the new release's oslo.config
(its validator and generator), built with uv from the lab's committed lock when missing
and cached in ~/.cache/sbs/cfgtest-venvs (about 2 s with uv's cache warm, 10-20 s cold)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sidebyside.lab.lockfiles import lock_hash, read_lock

REPO = Path(__file__).resolve().parents[3]
RELEASE = "2026.1"  # the oslo.config of the release the golden files translate to
LOCK_SERVICE = "keystone"  # its lock pins oslo.config and what it needs


def _cache_root() -> Path:
    if os.environ.get("SBS_CACHE_DIR"):
        return Path(os.environ["SBS_CACHE_DIR"]).expanduser()
    return Path.home() / ".cache" / "sbs"


def _uv() -> list[str]:
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


@pytest.fixture(scope="session")
def oslo_config_venv() -> Path:
    """bin/ of a venv with oslo.config of RELEASE (pinned by the lab's lock)."""
    lock_text = read_lock(LOCK_SERVICE, RELEASE)
    venv = _cache_root() / "cfgtest-venvs" / f"oslo-config-{RELEASE}-{lock_hash(lock_text)}"
    marker = venv / ".sbs-complete"
    if marker.exists():
        return venv / "bin"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{venv}.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if marker.exists():
            return venv / "bin"
        shutil.rmtree(venv, ignore_errors=True)
        started = time.monotonic()
        constraints = venv.parent / f"{venv.name}.constraints.txt"
        constraints.write_text(lock_text)
        python = sys.executable if sys.version_info[:2] == (3, 11) else "3.11"
        try:
            subprocess.run([*_uv(), "venv", "-q", "-p", python, str(venv)], check=True,
                           capture_output=True, timeout=300)
            subprocess.run([*_uv(), "pip", "install", "-q", "--python",
                            str(venv / "bin" / "python"), "-c", str(constraints),
                            "oslo.config"],
                           check=True, capture_output=True, timeout=600)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            pytest.skip(f"cannot build the oslo.config venv with uv (needs PyPI): {exc}: "
                        f"{detail.decode(errors='replace')[-500:]}")
        marker.write_text(f"built in {time.monotonic() - started:.1f}s\n")
    return venv / "bin"


def _lab_venv(service: str, release: str) -> Path:
    from sidebyside.lab.lockfiles import default_cache_root
    from sidebyside.lab.venvs import ensure_venv

    return ensure_venv(service, release, default_cache_root()).bin


@pytest.fixture(scope="session")
def keystone_2025_1_venv() -> Path:
    """bin/ of the lab's keystone 2025.1 venv (built from the committed lock with uv
    when missing: about a minute cold, nothing when cached)."""
    return _lab_venv("keystone", "2025.1")


@pytest.fixture(scope="session")
def keystone_2024_1_venv() -> Path:
    """bin/ of the lab's keystone 2024.1 venv, the old side's release."""
    return _lab_venv("keystone", "2024.1")
