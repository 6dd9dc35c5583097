"""Parity of snapshots and smoke summaries (pure)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from sidebyside.cloud.checks import Check, SmokeReport, compare_snapshots, normalize_snapshot


def test_same_ids_in_another_order_are_at_parity() -> None:
    report = compare_snapshots({"projects": ["b", "a"], "users": []},
                               {"projects": ["a", "b", "a"], "users": []})
    assert report.ok and report.differences == []
    assert "same counts and ids" in report.summary()


def test_ids_on_one_side_only_are_listed_per_side() -> None:
    report = compare_snapshots({"projects": ["a", "b"], "images": ["i1"]},
                               {"projects": ["a", "c", "d"], "images": ["i1"]})
    assert not report.ok
    (diff,) = report.differences
    assert diff.resource == "projects"
    assert diff.only_left == ("b",) and diff.only_right == ("c", "d")
    assert (diff.left_count, diff.right_count) == (2, 3)
    text = report.summary()
    assert "1 of 2 resource types differ" in text
    assert "only on old: b" in text and "only on new: c, d" in text


def test_a_type_listed_on_one_side_only_is_a_difference() -> None:
    report = compare_snapshots({"projects": ["a"], "volumes": []}, {"projects": ["a"]},
                               left_name="before cutover", right_name="vip now")
    (diff,) = report.differences
    assert diff.resource == "volumes" and diff.right_count is None
    assert "not listed on vip now" in report.summary()


def test_ignored_types_are_not_compared() -> None:
    report = compare_snapshots({"ports": ["p1"]}, {"ports": ["p2"]}, ignore=["ports"])
    assert report.ok and report.types == ()


def test_long_differences_are_shortened_in_the_summary_only() -> None:
    right = [f"id{n:02d}" for n in range(12)]
    report = compare_snapshots({"users": []}, {"users": right})
    assert "and 7 more" in report.summary()
    assert report.to_dict()["types"][0]["only_right"] == right


def test_a_listing_error_fails_parity() -> None:
    from sidebyside.cloud.checks import ParityReport

    report = ParityReport("old", "new", (), error="listing users failed")
    assert not report.ok and "not compared: listing users failed" in report.summary()


@given(st.dictionaries(st.sampled_from(["projects", "users", "images"]),
                       st.lists(st.text(min_size=1, max_size=5), max_size=8)))
def test_a_snapshot_is_at_parity_with_itself_and_json_round_trips(raw: dict) -> None:  # type: ignore[type-arg]
    snap = normalize_snapshot(raw)
    assert json.loads(json.dumps(snap)) == snap
    assert compare_snapshots(snap, json.loads(json.dumps(snap))).ok


def test_smoke_summary_names_failing_calls() -> None:
    report = SmokeReport("new", "lab-new", (
        Check("keystone", "token", "POST /v3/auth/tokens", "pass"),
        Check("glance", "images", "image.images()", "fail", detail="HttpException: 503"),
        Check("nova", "flavors", "compute.flavors()", "skip", detail="no endpoint")))
    assert not report.ok and [c.name for c in report.failures] == ["images"]
    text = report.summary()
    assert "1 passed, 1 failed, 1 skipped" in text
    assert "`image.images()` failed: HttpException: 503" in text
    assert report.to_dict()["checks"][2]["status"] == "skip"


def test_resources_created_since_the_snapshot_are_allowed_when_asked_missing_never() -> None:
    before = {"projects": ["a", "b"], "images": ["i1"]}
    now = {"projects": ["a", "b", "c", "d"], "images": ["i1"]}
    assert not compare_snapshots(before, now).ok  # exact by default (under the freeze)
    allowed = compare_snapshots(before, now, left_name="before cutover",
                                right_name="vip now", allow_added=True)
    assert allowed.ok
    assert "nothing missing; created since: projects +2" in allowed.summary()
    gone = compare_snapshots(before, {"projects": ["a", "c"], "images": ["i1"]},
                             allow_added=True)
    assert not gone.ok and gone.differences[0].only_left == ("b",)


# --- parity by content ---------------------------------------------------------------

IMAGE = {"name": "cirros", "status": "active", "checksum": "a", "size": 12,
         "visibility": "public"}


def test_a_field_that_differs_is_reported_per_resource() -> None:
    report = compare_snapshots({"images": {"1234": IMAGE}, "projects": {"p": {"name": "x"}}},
                               {"images": {"1234": {**IMAGE, "checksum": "b"}},
                                "projects": {"p": {"name": "x"}}})
    assert not report.ok
    (diff,) = report.differences
    assert diff.resource == "images" and not diff.only_left and not diff.only_right
    (change,) = diff.changed
    assert (change.id, change.field, change.left, change.right) == ("1234", "checksum",
                                                                    "a", "b")
    assert "image 1234: checksum a != b" in report.summary()
    data = report.to_dict()["types"][0]
    assert data["changed"] == [{"id": "1234", "field": "checksum", "left": "a",
                                "right": "b", "allowed": False}]
    assert {"resource", "left_count", "right_count", "only_left", "only_right",
            "ok"} <= set(data)  # the keys of the ids-only report stay
    assert set(data["fields"]) == set(IMAGE)


def test_equal_content_is_at_parity_and_says_so() -> None:
    snap = {"servers": {"s1": {"status": "ACTIVE", "addresses": [("net", "10.0.0.5")]}}}
    stored = json.loads(json.dumps(normalize_snapshot(snap)))  # as the journal gives it
    report = compare_snapshots(stored, snap)
    assert report.ok, report.summary()
    assert "same counts and ids, same content" in report.summary()


def test_an_ids_only_snapshot_still_compares_by_ids() -> None:
    from sidebyside.cloud.checks import stored_snapshot

    old_form = stored_snapshot({"projects": ["a", "b"], "images": ["i1"]})
    assert old_form == {"images": ["i1"], "projects": ["a", "b"]}
    now = {"projects": {"a": {"name": "x"}, "b": {"name": "y"}},
           "images": {"i1": IMAGE},
           "credentials": {"c1": {"blob": "sha256:0"}},
           "role_assignments": {"role=r user=u project=p": {}}}
    report = compare_snapshots(old_form, now, left_name="before cutover",
                               right_name="vip now")
    assert report.ok, report.summary()
    # the types an ids-only snapshot never listed are not compared against it
    assert {t.resource for t in report.types} == {"images", "projects"}
    assert all(t.fields == () for t in report.types)
    gone = compare_snapshots(old_form, {**now, "projects": {"a": {"name": "x"}}})
    assert not gone.ok and gone.differences[0].only_left == ("b",)
    # a content snapshot without a type is a difference, whatever the type
    missing = compare_snapshots({"projects": {}}, {"projects": {}, "credentials": {}})
    assert [t.resource for t in missing.differences] == ["credentials"]


def test_stored_snapshots_of_either_form_load_and_malformed_ones_do_not() -> None:
    from sidebyside.cloud.checks import stored_snapshot

    content = {"images": {"i1": IMAGE}, "users": ["u1"]}
    assert stored_snapshot(content) == normalize_snapshot(content)
    for bad in (None, [], {"images": "i1"}, {"images": {"i1": "active"}}):
        assert stored_snapshot(bad) is None


def test_changes_since_the_snapshot_are_allowed_with_writes_open_fixed_fields_never() -> None:
    before = {"servers": {"s1": {"status": "ACTIVE", "flavor": "f1"}},
              "images": {"i1": IMAGE}}
    now = {"servers": {"s1": {"status": "SHUTOFF", "flavor": "f1"}},
           "images": {"i1": {**IMAGE, "name": "renamed"}}}
    allowed = compare_snapshots(before, now, allow_added=True)
    assert allowed.ok, allowed.summary()
    assert "changed since:" in allowed.summary()
    assert "server s1: status ACTIVE != SHUTOFF" in allowed.summary()
    assert not compare_snapshots(before, now).ok  # under the freeze: a difference
    corrupt = compare_snapshots(before, {**now, "images": {"i1": {**IMAGE, "size": 11}}},
                                allow_added=True)
    assert not corrupt.ok
    assert "image i1: size 12 != 11" in corrupt.summary()


def test_a_secret_is_only_ever_a_short_digest() -> None:
    from sidebyside.cloud.checks import DIGEST_CHARS, digest

    secret = '{"access": "AKIA", "secret": "s3cr3t-value"}'
    value = digest(secret)
    assert value.startswith("sha256:") and len(value) == len("sha256:") + DIGEST_CHARS
    assert value == digest(secret) != digest(secret + " ")
    report = compare_snapshots({"credentials": {"c1": {"blob": digest(secret)}}},
                               {"credentials": {"c1": {"blob": digest("other")}}})
    text = report.summary() + json.dumps(report.to_dict())
    assert "s3cr3t" not in text and "credential c1: blob sha256:" in text


def test_long_values_are_shortened_in_messages() -> None:
    from sidebyside.cloud.checks import render_value

    assert render_value(None) == "none" and render_value(True) == "true"
    assert render_value([["net", "10.0.0.1"]]) == '[["net", "10.0.0.1"]]'
    assert len(render_value("x" * 500)) == 60


# --- what a snapshot fetches (openstacksdk resources, no cloud) ---------------------

class _Proxy:
    def __init__(self, **listings: object) -> None:
        self.__dict__.update(listings)


def _fake_conn() -> object:
    from types import SimpleNamespace

    from openstack.block_storage.v3.volume import Volume
    from openstack.compute.v2.flavor import Flavor
    from openstack.compute.v2.server import Server
    from openstack.identity.v3.credential import Credential
    from openstack.identity.v3.role_assignment import RoleAssignment
    from openstack.network.v2.network import Network
    from openstack.network.v2.port import Port
    from openstack.network.v2.security_group import SecurityGroup
    from openstack.network.v2.subnet import Subnet
    from openstack.orchestration.v1.stack import Stack

    server = Server.existing(
        id="s1", status="ACTIVE", flavor={"original_name": "m1.tiny", "vcpus": 1},
        image={"id": "i1", "links": []},
        addresses={"net1": [{"addr": "10.0.0.5", "version": 4}],
                   "net0": [{"addr": "10.1.0.7", "version": 4}]})
    stack = Stack.existing(id="st1", stack_status="CREATE_COMPLETE")
    full_stack = Stack.existing(id="st1", stack_status="CREATE_COMPLETE",
                                outputs=[{"output_key": "ip", "output_value": "10.0.0.5"}])
    rules = [{"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
              "port_range_min": 22, "port_range_max": 22}]
    identity = _Proxy(
        domains=list, projects=list, users=list, groups=list, roles=list, services=list,
        endpoints=list,
        credentials=lambda: [Credential.existing(id="c1", type="ec2", user_id="u1",
                                                 blob='{"secret": "hush"}')],
        role_assignments=lambda: [RoleAssignment.existing(
            role={"id": "r1"}, user={"id": "u1"}, scope={"project": {"id": "p1"}})])
    return SimpleNamespace(
        endpoint_for=lambda service_type: f"http://x/{service_type}",
        identity=identity,
        compute=_Proxy(servers=lambda all_projects: [server],
                       flavors=lambda: [Flavor.existing(id="f1", name="m1.tiny", vcpus=1,
                                                        ram=512, disk=1)]),
        block_storage=_Proxy(volumes=lambda all_projects: [Volume.existing(
            id="v1", size=1, status="in-use", attachments=[{"server_id": "s1"}])]),
        network=_Proxy(
            networks=lambda: [Network.existing(id="n1", name="net1", subnets=["sn1"])],
            subnets=lambda: [Subnet.existing(id="sn1", cidr="10.0.0.0/24",
                                             network_id="n1")],
            ports=lambda: [Port.existing(id="pt1", network_id="n1",
                                         fixed_ips=[{"subnet_id": "sn1",
                                                     "ip_address": "10.0.0.5"}])],
            routers=list,
            security_groups=lambda: [SecurityGroup.existing(
                id="sg1", name="default", security_group_rules=rules)]),
        orchestration=_Proxy(stacks=lambda: [stack], get_stack=lambda s: full_stack))


def test_a_snapshot_holds_the_content_fields_of_each_type() -> None:
    from sidebyside.cloud.checks import digest
    from sidebyside.cloud.smoke import snapshot

    taken = snapshot(_fake_conn(), ["keystone", "nova", "cinder", "neutron", "heat"])
    assert json.loads(json.dumps(taken)) == taken
    assert taken["servers"] == {"s1": {
        "status": "ACTIVE", "flavor": "m1.tiny", "image": "i1",
        "addresses": [["net0", "10.1.0.7"], ["net1", "10.0.0.5"]]}}
    assert taken["flavors"]["f1"] == {"name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1}
    assert taken["volumes"]["v1"] == {"size": 1, "status": "in-use", "attachments": ["s1"]}
    assert taken["networks"]["n1"] == {"name": "net1", "cidrs": ["10.0.0.0/24"]}
    assert taken["subnets"]["sn1"] == {"cidr": "10.0.0.0/24", "network_id": "n1"}
    assert taken["ports"]["pt1"]["fixed_ips"] == [["sn1", "10.0.0.5"]]
    assert taken["security_groups"]["sg1"]["rules"] == 1
    assert taken["stacks"]["st1"] == {"status": "CREATE_COMPLETE",
                                      "outputs": digest([["ip", "10.0.0.5"]])}
    assert taken["role_assignments"] == {"role=r1 user=u1 project=p1": {}}
    credential = taken["credentials"]["c1"]
    assert credential["blob"] == digest('{"secret": "hush"}')
    assert "hush" not in json.dumps(taken)
    assert taken["routers"] == {} and "images" not in taken
