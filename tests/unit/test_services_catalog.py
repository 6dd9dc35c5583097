"""sidebyside.services.catalog: the one home of service facts (databases, release
majors, API check paths, which requests write)."""

from __future__ import annotations

import pytest

from sidebyside.services.catalog import (
    SERVICE_ORDER,
    BackgroundWrites,
    api_check_paths,
    background_writes_of,
    service,
)

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


# Tables a user's request writes: never the background of any service.
USER_TABLES = {"instances", "instance_extra", "block_device_mapping", "volumes",
               "volume_attachment", "snapshots", "networks", "subnets", "ports", "routers",
               "securitygroups", "stack", "resource", "images", "project", "user",
               "allocations", "consumers", "traits", "flavors"}


def test_background_writes_are_the_services_own_heartbeats_and_records() -> None:
    def of(name: str) -> dict[str, BackgroundWrites]:
        return {w.table: w for w in service(name).background_writes}

    nova = of("nova")
    assert nova["services"] == BackgroundWrites(
        "services", ("updated_at", "report_count", "last_seen_up", "version"), new_rows=True)
    assert not nova["compute_nodes"].new_rows and "updated_at" in nova["compute_nodes"].columns
    assert of("neutron")["agents"].columns[0] == "heartbeat_timestamp"
    assert of("neutron")["agents"].new_rows and not of("neutron")["agents"].deleted_rows
    assert of("cinder")["services"].columns == (
        "updated_at", "report_count", "rpc_current_version", "object_current_version")
    assert of("heat")["service"] == BackgroundWrites(
        "service", ("updated_at", "deleted_at"), new_rows=True)
    assert of("placement")["resource_providers"].columns == ("generation", "updated_at")
    for name in ("keystone", "glance", "horizon"):
        assert service(name).background_writes == ()


@pytest.mark.parametrize("name", SERVICE_ORDER)
def test_background_writes_never_name_user_data_nor_a_key(name: str) -> None:
    for writes in service(name).background_writes:
        assert writes.table not in USER_TABLES
        assert writes.columns and len(set(writes.columns)) == len(writes.columns)
        assert not {"id", "uuid", "host", "binary", "disabled", "deleted"} & set(writes.columns)
        # only the row's own service deletes rows, where its code does (neutron's hash ring)
        assert not writes.deleted_rows or writes.table == "ovn_hash_ring"


def test_background_writes_of_keys_the_tables_of_the_databases_asked() -> None:
    found = background_writes_of(["nova", "heat", "keystone", "not-a-database"])
    assert {"nova.services", "nova.compute_nodes", "nova.instance_info_caches",
            "heat.service"} == set(found)
    assert found["heat.service"] is service("heat").background_writes[0]
    assert background_writes_of([]) == {}
    assert set(background_writes_of(["nova_cell0"])) == {
        f"nova_cell0.{w.table}" for w in service("nova").background_writes}
