"""Lock files and venv keys of the lab: pure logic."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidebyside.errors import InputError
from sidebyside.lab import lockfiles
from sidebyside.lab.releases import LAB_SERVICES, LOCKED_RELEASES, RELEASES, release

LOCK = """# header comment
alembic==1.13.1
Keystone==25.0.0
oslo.context==5.5.0 ; python_version >= "3.9"
bcrypt==4.0.1  # trailing comment
-e ./not-a-pin
"""


def test_pins_are_parsed_and_normalised() -> None:
    pins = lockfiles.lock_pins(LOCK)
    assert pins == {"alembic": "1.13.1", "keystone": "25.0.0", "oslo-context": "5.5.0",
                    "bcrypt": "4.0.1"}


def test_lock_hash_ignores_comments_and_order_but_not_versions() -> None:
    reordered = "bcrypt==4.0.1\n# other comment\noslo_context==5.5.0\nkeystone==25.0.0\n" \
                "alembic==1.13.1\n"
    assert lockfiles.lock_hash(LOCK) == lockfiles.lock_hash(reordered)
    bumped = LOCK.replace("bcrypt==4.0.1", "bcrypt==5.0.0")
    assert lockfiles.lock_hash(LOCK) != lockfiles.lock_hash(bumped)


def test_venv_dir_is_keyed_by_service_release_and_lock() -> None:
    path = lockfiles.venv_dir(Path("/cache"), "keystone", "2024.1", LOCK)
    assert path.parent == Path("/cache/venvs")
    assert path.name == f"keystone-2024.1-{lockfiles.lock_hash(LOCK)}"
    assert lockfiles.venv_dir(Path("/cache"), "glance", "2024.1", LOCK) != path


def test_cache_root_follows_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SBS_CACHE_DIR", "/x/sbs-cache")
    assert lockfiles.default_cache_root() == Path("/x/sbs-cache")
    monkeypatch.delenv("SBS_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert lockfiles.default_cache_root() == Path("/xdg/sbs")


@pytest.mark.parametrize("release_name", ["2024.1", "2025.1", "2026.1"])
@pytest.mark.parametrize("service", ["keystone", "glance", "nova"])
def test_committed_locks_pin_the_release_and_the_drivers(service: str,
                                                         release_name: str) -> None:
    pins = lockfiles.lock_pins(lockfiles.read_lock(service, release_name))
    major = RELEASES[release_name].majors[service]
    assert pins[service].split(".")[0] == str(major)
    assert "pymysql" in pins and "python-memcached" in pins
    assert int(pins["setuptools"].split(".")[0]) < 81  # pkg_resources still there


def test_keystone_2024_1_lock_carries_the_release_constraints() -> None:
    # Without them, bcrypt 5 breaks bootstrap and oslo.context 6 makes the API fail.
    pins = lockfiles.lock_pins(lockfiles.read_lock("keystone", "2024.1"))
    assert pins["bcrypt"].startswith("4.")
    assert pins["oslo-context"].split(".")[0] == "5"


def test_every_locked_release_has_a_lock_per_lab_service() -> None:
    for release_name in LOCKED_RELEASES:
        for service in LAB_SERVICES:
            assert lockfiles.read_lock(service, release_name).startswith("# sbs lab lock")


def test_unknown_release_and_missing_lock_are_input_errors() -> None:
    with pytest.raises(InputError, match="2099.1"):
        lockfiles.read_lock("keystone", "2099.1")
    with pytest.raises(InputError, match="keystone-2024.2.txt"):
        lockfiles.read_lock("keystone", "2024.2")


def test_requirement_spans_the_release_major() -> None:
    assert release("2026.1").requirement("keystone") == "keystone>=29.0.0,<30"
    assert release("2024.1").requirement("placement") == "openstack-placement>=11.0.0,<12"


@pytest.mark.parametrize(("release_name", "version"),
                         [("2025.1", "25.3.2"), ("2026.1", "25.7.3")])
def test_horizon_is_the_release_constraints_pin(release_name: str, version: str) -> None:
    # horizon's 25.x spans 2024.2 to 2026.1: no major range, the constraints' pin
    assert release(release_name).requirement("horizon") == "horizon"
    pins = lockfiles.lock_pins(lockfiles.read_lock("horizon", release_name))
    assert pins["horizon"] == version
    assert {"django", "django-compressor"} <= set(pins)
