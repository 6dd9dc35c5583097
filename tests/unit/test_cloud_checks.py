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
