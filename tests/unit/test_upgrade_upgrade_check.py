"""oslo.upgradecheck JSON parsing and judging (pure)."""

from __future__ import annotations

import json

import pytest

from sidebyside.errors import PreflightError
from sidebyside.upgrade.upgrade_check import Code, parse_status_output, require_no_failure


def _doc(*checks: tuple[str, int, str | None]) -> str:
    return json.dumps({"name": "Keystone", "checks": [
        {"check": name, "result": code, "details": details} for name, code, details in checks]})


def test_success_document_parses_every_check() -> None:
    text = _doc(("Check trust policies are not empty", 0, None),
                ("Check default roles are immutable", 0, None))
    report = parse_status_output("keystone", text, 0)
    assert report.code is Code.SUCCESS
    assert [i.name for i in report.items] == ["Check trust policies are not empty",
                                              "Check default roles are immutable"]
    assert report.failures == [] and report.warnings == []
    require_no_failure(report)


def test_log_lines_before_the_json_are_skipped() -> None:
    text = "2026-01-01 WARNING oslo_policy something {not json\n" + _doc(("Cells v2", 1, "x"))
    report = parse_status_output("nova", text, 1)
    assert report.code is Code.WARNING
    assert report.warnings[0].details == "x"
    require_no_failure(report)  # warnings do not block


def test_a_failure_blocks_with_its_details() -> None:
    text = _doc(("Placement API", 2, "There is no placement-api endpoint"), ("Cells v2", 0, None))
    report = parse_status_output("nova", text, 2)
    assert report.code is Code.FAILURE
    with pytest.raises(PreflightError) as err:
        require_no_failure(report)
    assert "Placement API" in err.value.message
    assert "no placement-api endpoint" in err.value.message
    assert err.value.exit_code == 3


def test_worst_code_wins_over_an_optimistic_exit_code() -> None:
    report = parse_status_output("glance", _doc(("a", 0, None), ("b", 2, "bad")), 0)
    assert report.code is Code.FAILURE


def test_crashed_checker_and_missing_json_are_errors() -> None:
    with pytest.raises(ValueError, match="255"):
        parse_status_output("keystone", "Traceback ...", 255)
    with pytest.raises(ValueError, match="no upgrade-check result"):
        parse_status_output("keystone", "/etc/keystone/fernet-keys/ does not exist", 1)


def test_secret_in_details_is_redacted() -> None:
    text = _doc(("DB", 1, "connection mysql+pymysql://nova:s3cretpw@db/nova failed"))
    report = parse_status_output("nova", text, 1)
    assert "s3cretpw" not in report.items[0].details


PLACEMENT_TABLE = """\
+-------------------------------------------+
| Upgrade Check Results                     |
+-------------------------------------------+
| Check: Missing Root Provider IDs          |
| Result: Success                           |
| Details: None                             |
+-------------------------------------------+
| Check: Incomplete Consumers               |
| Result: Warning                           |
| Details: There are 3 incomplete consumers |
|   table records for existing allocations. |
+-------------------------------------------+
"""


def test_table_output_of_a_checker_that_ignores_json() -> None:
    report = parse_status_output("placement", PLACEMENT_TABLE, 1)
    assert report.title == "Upgrade Check Results"
    assert [(i.name, i.code) for i in report.items] == [
        ("Missing Root Provider IDs", Code.SUCCESS), ("Incomplete Consumers", Code.WARNING)]
    assert report.items[0].details == ""
    assert report.items[1].details == ("There are 3 incomplete consumers table records for "
                                       "existing allocations.")


# nova-status 31.x (2025.1) upgrade check, verbatim, against a nova.conf without
# [placement] credentials or service user (it has no --json option at all)
NOVA_TABLE = """\
+---------------------------------------------------------------------+
| Upgrade Check Results                                               |
+---------------------------------------------------------------------+
| Check: Cells v2                                                     |
| Result: Success                                                     |
| Details: No host mappings or compute nodes were found. Remember to  |
|   run command 'nova-manage cell_v2 discover_hosts' when new         |
|   compute hosts are deployed.                                       |
+---------------------------------------------------------------------+
| Check: Placement API                                                |
| Result: Failure                                                     |
| Details: No credentials specified for placement API in nova.conf.   |
+---------------------------------------------------------------------+
| Check: Cinder API                                                   |
| Result: Success                                                     |
| Details: None                                                       |
+---------------------------------------------------------------------+
| Check: Policy File JSON to YAML Migration                           |
| Result: Success                                                     |
| Details: None                                                       |
+---------------------------------------------------------------------+
| Check: Older than N-1 computes                                      |
| Result: Success                                                     |
| Details: None                                                       |
+---------------------------------------------------------------------+
| Check: hw_machine_type unset                                        |
| Result: Success                                                     |
| Details: None                                                       |
+---------------------------------------------------------------------+
| Check: Service User Token Configuration                             |
| Result: Failure                                                     |
| Details:  Service user token configuration is required for all Nova |
|   services. For more details see the following: https://docs        |
|   .openstack.org/nova/latest/admin/configuration/service-           |
|   user-token.html                                                   |
+---------------------------------------------------------------------+
"""


def test_real_nova_status_table() -> None:
    report = parse_status_output("nova", NOVA_TABLE, 2)
    assert report.code is Code.FAILURE
    assert [i.name for i in report.failures] == ["Placement API",
                                                 "Service User Token Configuration"]
    assert report.failures[0].details == "No credentials specified for placement API in nova.conf."
    assert report.items[0].details.startswith("No host mappings or compute nodes were found.")
    assert len(report.items) == 7


def test_interpreter_of_reads_the_shebang(tmp_path) -> None:
    import pytest

    from sidebyside.errors import PreflightError
    from sidebyside.remote.local import LocalHost
    from sidebyside.upgrade.upgrade_check import interpreter_of

    script = tmp_path / "keystone-status"
    script.write_text("#!/opt/venvs/keystone/bin/python3.11\nimport sys\n")
    assert interpreter_of(LocalHost(), str(script)) == "/opt/venvs/keystone/bin/python3.11"
    script.write_text("#!/usr/bin/env python3\n")
    assert interpreter_of(LocalHost(), str(script)) == "python3"
    script.write_text("import sys\n")
    with pytest.raises(PreflightError):
        interpreter_of(LocalHost(), str(script))
    with pytest.raises(PreflightError) as err:
        interpreter_of(LocalHost(), str(tmp_path / "missing"))
    assert "missing" in err.value.message
