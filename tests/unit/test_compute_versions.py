"""The compute-version rule of pre-flight (sidebyside/computes/versions.py)."""

from __future__ import annotations

import pytest

from sidebyside.computes.versions import (
    RegisteredCompute,
    judge_computes,
    oldest_accepted_release,
    releases_of,
    undeclared_computes,
)
from sidebyside.services.catalog import service

VERSIONS = service("nova").compute_versions


@pytest.mark.parametrize(("target", "oldest"), [
    ("2026.1", "2025.1"),  # SLURP: the SLURP before it (N-2)
    ("2025.2", "2025.1"),  # not SLURP: N-1
    ("2025.1", "2024.1"),
    ("2024.2", "2024.1"),
])
def test_the_oldest_release_a_control_plane_accepts(target: str, oldest: str) -> None:
    assert oldest_accepted_release(target) == oldest


def test_the_catalog_has_nova_s_versions_in_order() -> None:
    # each release records a version no older than the one before it
    ordered = [VERSIONS[r] for r in sorted(VERSIONS, key=lambda r: tuple(map(int, r.split("."))))]
    assert ordered == sorted(ordered)
    assert VERSIONS["2025.1"] == 68 and VERSIONS["2024.1"] == 66
    assert releases_of(66, VERSIONS) == ["2023.1", "2023.2", "2024.1"]


def test_a_compute_older_than_the_target_accepts_blocks_naming_its_host() -> None:
    computes = [RegisteredCompute("cmp-b", 68, "nova"),
                RegisteredCompute("cmp-a", 66, "nova", disabled=True)]
    findings = judge_computes(computes, "2026.1", VERSIONS)
    assert [(f.host, f.severity) for f in findings] == [("cmp-a", "blocker"),
                                                       ("cmp-b", "ok")]
    blocked = findings[0]
    assert "version 66 (2023.1, 2023.2, 2024.1)" in blocked.message
    assert "from 2025.1 (version 68) on" in blocked.message
    assert "still counted" in blocked.message  # disabled, but nova counts it
    assert "2025.1" in blocked.advice


def test_the_same_computes_pass_for_a_one_release_hop() -> None:
    computes = [RegisteredCompute("cmp-a", 66, "nova")]
    assert [f.severity for f in judge_computes(computes, "2025.1", VERSIONS)] == ["ok"]


def test_an_unknown_target_is_a_warning_not_a_pass() -> None:
    findings = judge_computes([RegisteredCompute("cmp-a", 72, "nova")], "2031.1", VERSIONS)
    assert [f.severity for f in findings] == ["warning"]
    assert "2030.1" in findings[0].message


def test_computes_the_inventory_does_not_name() -> None:
    computes = [RegisteredCompute("cmp-a", 68, "nova"), RegisteredCompute("cmp-b", 68, "nova"),
                RegisteredCompute("cmp-b", 68, "nova_cell2")]
    assert undeclared_computes(computes, {"cmp-a"}) == ["cmp-b"]
    assert undeclared_computes(computes, {"cmp-a", "cmp-b"}) == []
