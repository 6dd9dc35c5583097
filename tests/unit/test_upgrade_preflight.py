"""Pre-flight report logic and parsers (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidebyside.errors import PreflightError
from sidebyside.inventory import load_inventory
from sidebyside.redact import register_secret
from sidebyside.upgrade.preflight import (
    PreflightReport,
    _df_available,
    _Preflight,
    parse_ini_options,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "minimal.yaml"


def test_report_severity_and_blocking() -> None:
    report = PreflightReport("lab", "2025.1", "2026.1")
    report.add("host", "ok", "new-ctl1", "reachable")
    assert report.severity == "ok"
    report.raise_if_blocked()
    report.add("capacity", "warning", "new-ctl1", "smaller than old")
    assert report.severity == "warning"
    report.raise_if_blocked()  # warnings do not block
    register_secret("dbpass-xyz-123")
    report.add("database", "blocker", "old 10.0.0.11:3306", "access denied for dbpass-xyz-123")
    assert report.severity == "blocker"
    assert [r.check for r in report.blockers] == ["database"]
    with pytest.raises(PreflightError) as err:
        report.raise_if_blocked()
    assert err.value.exit_code == 3
    assert "dbpass-xyz-123" not in err.value.message
    data = report.to_dict()
    assert data["blockers"] == 1 and data["warnings"] == 1
    assert "dbpass-xyz-123" not in str(data)


def test_df_output() -> None:
    out = ("Filesystem     1024-blocks      Used Available Capacity Mounted on\n"
           "/dev/vda        263174212  24000000 82000000      23% /\n")
    assert _df_available(out) == 82000000 * 1024
    assert _df_available("df: /nope: No such file or directory\n") is None


def test_ini_options_keep_sections_and_lowercase_options() -> None:
    options = parse_ini_options("[DEFAULT]\nService_Plugins = router,lbaasv2\n"
                                "[ml2]\nmechanism_drivers = ovn\n")
    assert options[("DEFAULT", "service_plugins")] == "router,lbaasv2"
    assert options[("ml2", "mechanism_drivers")] == "ovn"
    assert parse_ini_options("not an ini file [") == {}


def test_release_path_check_names_the_hops() -> None:
    inv = load_inventory(EXAMPLE)
    check = _Preflight(inv, hosts=lambda name: pytest.fail("no host needed"),
                       log=lambda line: None)
    check.release_path()
    [result] = check.report.results
    assert result.severity == "ok"
    assert "2025.1 -> 2026.1" in result.message


def test_token_issue_writes_only_under_lockout_or_inactivity_tracking() -> None:
    from sidebyside.upgrade.preflight import parse_ini_options, token_issue_writes

    assert token_issue_writes(parse_ini_options("[security_compliance]\n"
                                                "lockout_failure_attempts = 0\n")) == []
    assert token_issue_writes(parse_ini_options("[DEFAULT]\ndebug = true\n")) == []
    found = token_issue_writes(parse_ini_options(
        "[security_compliance]\nlockout_failure_attempts = 6\n"
        "disable_user_account_days_inactive = 90\n"))
    assert found == ["[security_compliance] lockout_failure_attempts = 6",
                     "[security_compliance] disable_user_account_days_inactive = 90"]
