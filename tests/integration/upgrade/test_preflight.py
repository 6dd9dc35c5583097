"""Pre-flight against real servers, real releases and real configs, 2024.1 -> 2025.1.

The old side is set up with things the target release no longer has: an ec2 service
in the Keystone catalog (ec2-api retired 2024.2: blocks), an identity /v2.0 endpoint
(gone long before: a warning), linuxbridge in ml2_conf.ini (removed in 2025.1:
blocks); the new controller's neutron is the wrong release (blocks) and one host is
unreachable (blocks). Everything else must come out ok.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from sidebyside.cli.check import register
from sidebyside.errors import PreflightError
from sidebyside.remote.factory import rooted
from sidebyside.upgrade.preflight import run_preflight
from tests.integration.upgrade.conftest import DbServer, make_inventory, run_tool, write_ini

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def old_cloud(db_servers: tuple[DbServer, DbServer], venv: Any,
              tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Read-only for the tests: the pre-flight changes nothing."""
    old_db, new_db = db_servers
    tmp_path = tmp_path_factory.mktemp("preflight")
    inv = make_inventory(
        tmp_path, old_db, new_db, release=("2024.1", "2025.1"),
        services={"keystone": (str(venv("keystone", "2024.1").bin),
                               str(venv("keystone", "2025.1").bin)),
                  # the new controller got 2025.2's neutron instead of 2025.1's
                  "neutron": (str(venv("neutron", "2025.1").bin),
                              str(venv("neutron", "2025.2").bin))},
        extra_hosts={"lb1": {"address": "127.0.0.1", "transport": "netns",
                             "netns": "sbs-test-no-such-namespace"}})
    old_etc = Path(rooted(inv.hosts["old-ctl1"].root, "/etc"))
    old_db.create("keystone")
    conf = write_ini(old_etc / "keystone" / "keystone.conf",
                     {"database": {"connection": old_db.url("keystone")}})
    run_tool([str(venv("keystone", "2024.1").bin / "keystone-manage"), "--config-file",
              str(conf), "db_sync"])
    for sid, stype, name in (("s1", "identity", "keystone"), ("s2", "ec2", "ec2-api")):
        old_db.execute("INSERT INTO keystone.service (id, type, enabled, extra) "
                       "VALUES (%s, %s, 1, %s)", (sid, stype, json.dumps({"name": name})))
    for eid, sid, url in (("e1", "s1", "http://vip:5000/v3"),
                          ("e2", "s1", "http://vip:5000/v2.0"),
                          ("e3", "s2", "http://vip:8788/")):
        old_db.execute("INSERT INTO keystone.endpoint (id, interface, service_id, url, "
                       "extra, enabled) VALUES (%s, 'public', %s, %s, '{}', 1)",
                       (eid, sid, url))
    write_ini(old_etc / "neutron" / "neutron.conf", {"DEFAULT": {"core_plugin": "ml2"}})
    write_ini(old_etc / "neutron" / "plugins" / "ml2" / "ml2_conf.ini",
              {"ml2": {"mechanism_drivers": "linuxbridge,l2population"}})
    return inv


def _by_check(report: Any) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for result in report.results:
        found.setdefault(result.check, []).append(result)
    return found


def test_preflight_finds_the_blockers_and_passes_the_rest(old_cloud: Any) -> None:
    report = run_preflight(old_cloud)
    checks = _by_check(report)
    blockers = {(r.check, r.subject.split()[0]) for r in report.blockers}

    assert ("host", "lb1") in blockers
    assert {r.severity for r in checks["host"] if r.subject != "lb1"} == {"ok"}
    assert {r.severity for r in checks["database"]} == {"ok"}
    assert checks["release"][0].severity == "ok"
    assert [r.severity for r in checks["disk"]] == ["ok"]
    assert {r.severity for r in checks["capacity"]} == {"ok"}  # same machine both sides
    # the old keystone database is fully migrated for 2024.1
    assert [(r.severity, r.message) for r in checks["db_sync"]] == [
        ("ok", "`check`: up to date")]

    packages = {r.subject.split()[1]: r for r in checks["package"]}
    assert packages["keystone"].severity == "ok"
    assert packages["keystone"].message.startswith("keystone 27.")
    assert packages["neutron"].severity == "blocker"
    assert "2025.1 is 26.x" in packages["neutron"].message
    assert all(r.severity == "ok" for r in checks["python"])

    apis = {(r.severity, r.subject) for r in checks["removed-api"]}
    assert any(sev == "blocker" and "ec2" in subject for sev, subject in apis)
    assert any(sev == "warning" and "/v2.0" in subject for sev, subject in apis)
    assert not any("/v3" in subject for _, subject in apis)
    options = checks["removed-option"]
    assert [(r.severity, "linuxbridge" in r.subject) for r in options] == [("blocker", True)]

    with pytest.raises(PreflightError) as err:
        report.raise_if_blocked()
    assert err.value.exit_code == 3
    assert "ec2" in err.value.message and "linuxbridge" in err.value.message


def test_sbs_check_json_exits_3(old_cloud: Any, tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """Make `check` a sub-command as in the real CLI."""

    result = CliRunner().invoke(app, ["check", "-i", old_cloud.source, "--state-dir",
                                      str(tmp_path / "state"), "--json"])
    assert result.exit_code == 3, result.output
    data = json.loads(result.stdout)
    assert data["severity"] == "blocker"
    assert data["blockers"] >= 4
    assert {c["check"] for c in data["checks"]} >= {"host", "database", "disk", "package",
                                                   "python", "removed-api",
                                                   "removed-option"}
    assert old_cloud.old.database.password_file not in result.stdout
