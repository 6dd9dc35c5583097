"""Release-note facts matched against catalogs and configs (pure)."""

from __future__ import annotations

from sidebyside.config.metadata import service_spec
from sidebyside.services.catalog import catalog
from sidebyside.upgrade.preflight import parse_ini_options
from sidebyside.upgrade.release_notes import (
    CatalogEntry,
    match_catalog,
    match_options,
    python_finding,
    release_notes,
)


def test_shipped_data_loads_and_names_known_services() -> None:
    notes = release_notes()
    assert notes.removed_apis and notes.removed_options
    known = set(catalog())
    assert {o.service for o in notes.removed_options} <= known
    for option in notes.removed_options:
        assert option.file in [f.path for f in service_spec(option.service).files]


def test_identity_v2_endpoint_is_found_and_v3_is_not() -> None:
    entries = [CatalogEntry("identity", "keystone", "public", "http://vip:5000/v2.0"),
               CatalogEntry("identity", "keystone", "internal", "http://vip:5000/v3"),
               CatalogEntry("compute", "nova", "public", "http://vip:8774/v2.1")]
    findings = match_catalog(entries, "2024.1", "2025.1")
    assert [f.fact_id for f in findings] == ["identity-v2"]
    assert "/v2.0" in findings[0].subject
    # removed long before the old release: a stale leftover, reported as a warning
    assert findings[0].severity == "warning"


def test_ec2_removed_during_the_upgrade_blocks() -> None:
    entries = [CatalogEntry("ec2", "ec2-api", "public", "http://vip:8788/")]
    assert [f.severity for f in match_catalog(entries, "2024.1", "2025.1")] == ["blocker"]
    # the target still had it: nothing to report
    assert match_catalog(entries, "2023.1", "2024.1") == []


def test_linuxbridge_in_ml2_conf_blocks_an_upgrade_to_2025_1() -> None:
    ini = "[ml2]\nmechanism_drivers = openvswitch, linuxbridge ,l2population\n"
    options = parse_ini_options(ini)
    findings = match_options("neutron", "neutron/plugins/ml2/ml2_conf.ini", options,
                             "2024.1", "2025.1")
    assert [(f.fact_id, f.severity) for f in findings] == [("neutron-linuxbridge", "blocker")]
    assert "linuxbridge" in findings[0].subject and "openvswitch" not in findings[0].subject
    assert match_options("neutron", "neutron/plugins/ml2/ml2_conf.ini",
                         parse_ini_options("[ml2]\nmechanism_drivers = ovn\n"),
                         "2024.1", "2025.1") == []


def test_default_section_and_repeated_keys() -> None:
    ini = ("[DEFAULT]\ncompute_driver = libvirt.LibvirtDriver\n"
           "compute_driver = hyperv.HyperVDriver\n")
    options = parse_ini_options(ini)
    assert options[("DEFAULT", "compute_driver")] == "hyperv.HyperVDriver"
    findings = match_options("nova", "nova/nova.conf", options, "2023.2", "2024.1")
    assert [f.fact_id for f in findings] == ["nova-hyperv-driver"]


def test_python_versions() -> None:
    assert python_finding("2026.1", (3, 11))[0] == "ok"
    assert python_finding("2026.1", (3, 9))[0] == "blocker"
    assert python_finding("2024.1", (3, 13))[0] == "warning"
