"""The main job on the real lab: prepare -> cutover -> verify -> rollback -> verify.

Every command is the real CLI against the lab's generated inventory. The old
databases' checksums prove the old controller was never written; a project created
through the VIP after cutover proves rollback refuses to drop new writes silently.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from sidebyside.lab import seed
from tests.e2e.argv_scan import ArgvScanner, argv_scanner, report  # noqa: F401 - fixture
from tests.e2e.conftest import RunningLab
from tests.e2e.test_lab import db, haproxy

pytestmark = pytest.mark.e2e
OLD_DATABASES = ("keystone", "glance", "nova_api", "nova", "nova_cell0")


def sbs(lab: RunningLab, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sidebyside", *args, "-i", str(lab.state_dir / "sbs.yaml"),
         "--state-dir", str(lab.state_dir / "flow-state")],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"})


def old_checksums(lab: RunningLab) -> dict[str, int]:
    conn = db(lab, "old")
    try:
        with conn.cursor() as cur:
            tables = []
            for database in OLD_DATABASES:
                cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE "
                            "TABLE_SCHEMA=%s AND TABLE_TYPE='BASE TABLE'", (database,))
                tables += [f"`{database}`.`{row[0]}`" for row in cur.fetchall()]
            cur.execute("CHECKSUM TABLE " + ", ".join(tables) + " EXTENDED")
            return {row[0]: row[1] for row in cur.fetchall()}
    finally:
        conn.close()


def serving(lab: RunningLab, backend: str) -> set[str]:
    """Server names HAProxy sends traffic to (not in forced maintenance)."""
    lines = haproxy(lab, f"show servers state {backend}").splitlines()[2:]
    return {f[3] for f in (line.split() for line in lines if line.strip())
            if not int(f[6]) & 1}


def project_names(lab: RunningLab) -> set[str]:
    conn = seed.connect(lab.state_dir / "clouds.yaml", "lab-vip")
    return {p.name for p in conn.identity.projects()}


@pytest.mark.usefixtures("argv_scanner")  # every argv scanned while the flow runs
def test_prepare_cutover_rollback(lab: RunningLab) -> None:
    before = old_checksums(lab)
    projects_before = project_names(lab)

    prepared = sbs(lab, "prepare", "--yes", "--json")
    assert prepared.returncode == 0, prepared.stderr[-3000:]
    assert serving(lab, "keystone_api") == {"old-ctl1"}  # prepare moves no traffic

    cut = sbs(lab, "cutover", "--yes", "--json")
    assert cut.returncode == 0, cut.stderr[-3000:]
    assert serving(lab, "keystone_api") == {"new-ctl1"}
    assert serving(lab, "glance_api") == {"new-ctl1"}
    assert project_names(lab) == projects_before  # the new release serves the old data
    assert old_checksums(lab) == before  # the old controller was never written

    verified = sbs(lab, "verify", "--side", "vip", "--json")
    assert verified.returncode == 0, verified.stdout[-3000:]

    # A write lands on the new side after cutover: rollback must not drop it silently.
    conn = seed.connect(lab.state_dir / "clouds.yaml", "lab-vip")
    conn.identity.create_project(name="written-after-cutover", domain_id="default")
    refused = sbs(lab, "rollback", "--yes")
    assert refused.returncode == 10, refused.stderr[-3000:]
    assert "keystone.project" in refused.stderr
    assert serving(lab, "keystone_api") == {"new-ctl1"}  # refused: nothing switched
    exports = list((lab.state_dir / "flow-state" / "rollback-exports").glob("*/manifest.json"))
    assert exports

    rolled = sbs(lab, "rollback", "--yes", "--accept-data-loss")
    assert rolled.returncode == 0, rolled.stderr[-3000:]
    assert serving(lab, "keystone_api") == {"old-ctl1"}
    assert serving(lab, "glance_api") == {"old-ctl1"}
    assert project_names(lab) == projects_before
    assert old_checksums(lab) == before

    status = sbs(lab, "status", "--json")
    assert status.returncode == 0
    assert '"rolled-back"' in status.stdout


def test_no_secret_in_any_process_arguments_during_the_flow(
        argv_scanner: ArgvScanner) -> None:  # noqa: F811 - the imported fixture
    """prepare, cutover and both rollbacks ran above with every command line on the
    machine read every 50 ms: none held a lab password (nova-manage's cell URLs,
    database tools, ssh, services)."""
    argv_scanner.stop()
    assert not argv_scanner.errors, argv_scanner.errors[:5]
    assert argv_scanner.scans > 100, f"only {argv_scanner.scans} scans"
    assert argv_scanner.children_seen & {"nova-manage", "keystone-manage", "mariadb",
                                         "mariadb-dump", "mydumper", "myloader"}, \
        f"no sbs child process was seen: {sorted(argv_scanner.children_seen)}"
    assert not argv_scanner.leaks, "secrets in process arguments:\n" + report(argv_scanner)


def test_zz_reset_leaves_an_empty_new_side(lab: RunningLab) -> None:
    lab.cli("reset")
    assert serving(lab, "keystone_api") == {"old-ctl1"}
    conn = db(lab, "new")
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES LIKE 'keystone'")
            assert cur.fetchall() == ()
    finally:
        conn.close()
