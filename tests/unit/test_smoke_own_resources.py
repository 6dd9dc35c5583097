"""The smoke's decisions against a recording stand-in connection (pure): a named service
without an endpoint fails, the inventory's `api: false` skips it saying so, and each
service's create/delete check makes an `sbs-verify-` resource and deletes it on every
path."""

from __future__ import annotations

import re

import pytest
from openstack import exceptions as os_exc

from sidebyside.cloud.own_resources import NO_OWN_RESOURCE, OWN_RESOURCES, create_and_delete
from sidebyside.cloud.smoke import SMOKE_CHECKS, run_smoke
from sidebyside.cloud.writes import WriteGuard
from sidebyside.errors import VerificationError
from tests.unit.cloud_fakes import CATALOG, FakeConnection, new_side_overrides

# horizon is checked at its dashboard URL, not through the connection:
# tests/unit/test_cloud_dashboard.py
EVERY_SERVICE = ["keystone", "glance", "placement", "nova", "neutron", "cinder", "heat"]
NAME = re.compile(r"^sbs-verify-[0-9a-f]{8}$")
ALLOWED = WriteGuard(cloud="prod-new", direct=True)


def by_service(report):  # type: ignore[no-untyped-def]
    found: dict[str, list] = {}
    for check in report.checks:
        found.setdefault(check.service, []).append(check)
    return found


def test_a_named_service_without_an_endpoint_fails_naming_type_and_cloud() -> None:
    catalog = {k: v for k, v in CATALOG.items() if k != "compute"}
    report = run_smoke(FakeConnection(catalog), ["keystone", "nova"], side="vip",
                       cloud="lab-vip")
    (nova,) = by_service(report)["nova"]
    assert nova.status == "fail" and nova.name == "endpoint"
    assert "no compute endpoint in the catalog of cloud lab-vip" in nova.detail
    assert "api: false" in nova.detail  # the one explicit way out, named
    assert not report.ok and "nova endpoint" in report.summary()


def test_a_database_only_service_is_skipped_with_the_inventorys_words() -> None:
    catalog = {k: v for k, v in CATALOG.items() if k != "compute"}
    why = "inventory: old.services.nova.api is false"
    report = run_smoke(FakeConnection(catalog), ["keystone", "nova"], side="old",
                       cloud="lab-old", database_only={"nova": why})
    nova = by_service(report)["nova"]
    assert [c.name for c in nova] == [name for name, _, _ in SMOKE_CHECKS["nova"]]
    assert all(c.status == "skip" and c.detail == why for c in nova)
    assert report.ok


def test_a_database_only_service_is_not_checked_even_with_an_endpoint() -> None:
    conn = FakeConnection(CATALOG)
    report = run_smoke(conn, ["nova"], side="new", cloud="c",
                       database_only={"nova": "inventory: new.services.nova.api is false"},
                       writes=ALLOWED)
    assert {c.status for c in report.checks} == {"skip"}
    assert not any(proxy == "compute" for proxy, *_ in conn.calls)


def test_without_writes_only_reads_are_made() -> None:
    conn = FakeConnection(CATALOG)
    report = run_smoke(conn, EVERY_SERVICE, side="vip", cloud="c")
    assert report.ok, report.summary()
    assert conn.writes == []
    assert not any("create/delete" in c.name for c in report.checks)


def test_the_old_side_is_refused_a_write_guard_outright() -> None:
    conn = FakeConnection(CATALOG, new_side_overrides())
    with pytest.raises(ValueError, match="old side"):
        run_smoke(conn, EVERY_SERVICE, side="old", cloud="c", writes=ALLOWED)
    assert conn.calls == []


def test_with_writes_every_service_but_cinder_creates_and_deletes_its_own_resource() -> None:
    conn = FakeConnection(CATALOG, new_side_overrides())
    report = run_smoke(conn, EVERY_SERVICE, side="new", cloud="prod-new", writes=ALLOWED)
    assert report.ok, report.summary()
    written = {c.service: c for c in report.checks if c.name.endswith("create/delete")}
    assert set(written) == set(OWN_RESOURCES) == {"keystone", "glance", "placement", "nova",
                                                  "neutron", "heat"}
    assert written["nova"].call == "compute.create_flavor/delete_flavor"
    assert written["nova"].name == "flavor create/delete"
    for check in written.values():
        assert re.search(r" sbs-verify-[0-9a-f]{8} created, read back and deleted$",
                         check.detail), check.detail
    # every resource made is gone again, and each was deleted by the call its check names
    assert all(not store for store in conn.resources.values()), conn.resources
    creates = [w for w in conn.writes if ".create_" in w]
    deletes = [w for w in conn.writes if ".delete_" in w]
    assert len(creates) == len(deletes) == 6
    for check in written.values():
        create, delete = check.call.split("/")
        assert create in creates and f"{create.split('.')[0]}.{delete}" in deletes


def test_cinder_is_only_read_and_says_why() -> None:
    conn = FakeConnection(CATALOG, new_side_overrides())
    report = run_smoke(conn, ["cinder"], side="new", cloud="c", writes=ALLOWED)
    names = [c.name for c in report.checks]
    assert names == ["volumes", "backend pools"]
    assert NO_OWN_RESOURCE["cinder"] in report.checks[0].detail
    assert conn.writes == []


def test_created_resources_are_named_sbs_verify_random() -> None:
    conn = FakeConnection(CATALOG, new_side_overrides())
    for _ in range(2):
        run_smoke(conn, ["nova"], side="new", cloud="c", writes=ALLOWED)
    names = [kwargs["name"] for _, method, _, kwargs in conn.calls
             if method == "create_flavor"]
    assert len(names) == 2 and names[0] != names[1]
    assert all(NAME.match(name) for name in names)
    (flavor,) = {kwargs["is_public"] for _, method, _, kwargs in conn.calls
                 if method == "create_flavor"}
    assert flavor is False  # private: no user lists it meanwhile


@pytest.mark.parametrize("service", sorted(OWN_RESOURCES))
def test_a_failure_after_the_create_still_deletes_the_resource(service: str) -> None:
    own = OWN_RESOURCES[service]
    conn = FakeConnection(CATALOG, new_side_overrides())
    proxy, read = _read_call(conn, own)
    conn.fail[(proxy, read)] = os_exc.HttpException("read back failed")
    with pytest.raises(os_exc.HttpException, match="read back failed"):
        create_and_delete(conn, own, "sbs-verify-0000000a")
    assert all(not store for store in conn.resources.values())
    assert any(m.startswith("delete_") for _, m, _, _ in conn.calls)


@pytest.mark.parametrize("service", sorted(OWN_RESOURCES))
def test_a_create_whose_answer_was_lost_is_found_by_name_and_deleted(service: str) -> None:
    own = OWN_RESOURCES[service]
    conn = FakeConnection(CATALOG, new_side_overrides())
    create = own.call.split("/")[0].split(".")
    conn.lose_answer.add((create[0], create[1]))
    with pytest.raises(os_exc.HttpException, match="answer was lost"):
        create_and_delete(conn, own, "sbs-verify-0000000b")
    assert all(not store for store in conn.resources.values()), conn.resources


def test_a_delete_that_fails_names_the_leftover_to_delete_by_hand() -> None:
    own = OWN_RESOURCES["nova"]
    conn = FakeConnection(CATALOG, new_side_overrides())
    conn.fail[("compute", "delete_flavor")] = os_exc.HttpException("500 on delete")
    with pytest.raises(VerificationError) as caught:
        create_and_delete(conn, own, "sbs-verify-0000000c")
    assert "flavor sbs-verify-0000000c may be left over, delete it by hand" in \
        caught.value.message
    assert "500 on delete" in caught.value.message


def test_a_resource_still_there_after_its_delete_fails_the_check() -> None:
    class Sticky(FakeConnection):
        def answer(self, proxy, method, args, kwargs):  # type: ignore[no-untyped-def]
            if method == "delete_region":
                return None  # answers, deletes nothing
            return super().answer(proxy, method, args, kwargs)

    sticky = Sticky(CATALOG, new_side_overrides())
    report = run_smoke(sticky, ["keystone"], side="new", cloud="c", writes=ALLOWED)
    (check,) = [c for c in report.checks if c.name == "region create/delete"]
    assert check.status == "fail" and "still there after its delete" in check.detail


def test_a_write_the_guard_refuses_fails_and_is_not_made() -> None:
    conn = FakeConnection(CATALOG)  # no overrides: every URL is the catalog's (the VIP)
    report = run_smoke(conn, ["keystone", "nova"], side="new", cloud="prod-new",
                       writes=ALLOWED)
    refused = [c for c in report.checks if c.name.endswith("create/delete")]
    assert [c.service for c in refused] == ["keystone", "nova"]
    assert all(c.status == "fail" and c.detail.startswith("not run: ") for c in refused)
    assert "no compute_endpoint_override" in refused[1].detail
    assert conn.writes == []


def _read_call(conn: FakeConnection, own) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """The proxy and method the check reads its resource back with."""
    probe = FakeConnection(CATALOG)
    created = own.create(probe, "sbs-verify-probe")
    probe.calls.clear()
    own.read(probe, created)
    (proxy, method, _, _), = probe.calls
    return proxy, method
