"""sidebyside.services.catalog: the one home of service facts (databases, release
majors, API check paths, which requests write)."""

from __future__ import annotations

import pytest

from sidebyside.services.catalog import SERVICE_ORDER, api_check_paths, service

LAB_SERVICES = ("keystone", "glance", "placement", "nova", "neutron", "cinder", "heat")


@pytest.mark.parametrize("name", LAB_SERVICES)
def test_every_lab_service_has_databases_and_a_major_per_release(name: str) -> None:
    info = service(name)
    assert info.databases and all(isinstance(db, str) for db in info.databases)
    assert info.package is not None
    majors = info.package.majors
    assert {"2024.1", "2025.1", "2026.1"} <= set(majors)
    releases = sorted(majors)
    assert [majors[r] for r in releases] == sorted(majors.values())  # one up per release


def test_api_check_paths_cover_every_service() -> None:
    paths = api_check_paths()
    assert set(paths) == set(SERVICE_ORDER)
    assert paths["keystone"] == "/v3" and paths["glance"] == "/versions"
    assert all(path.startswith("/") for path in paths.values())


def test_token_issue_writes_only_under_keystones_lockout_and_inactivity_options() -> None:
    assert service("keystone").token_issue_writes_under == (
        ("security_compliance", "lockout_failure_attempts"),
        ("security_compliance", "disable_user_account_days_inactive"))
    assert all(not service(name).token_issue_writes_under
               for name in SERVICE_ORDER if name != "keystone")
