"""The real lab: old controller served through the VIP, new one installed and empty."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pymysql
import pytest

from sidebyside.inventory import load_inventory, resolve_password
from sidebyside.lab import processes, seed
from sidebyside.lab.layout import DB_PORT, SIDE_ADDRESS
from sidebyside.services.releases import suggest_via
from tests.e2e.conftest import (
    FROM_RELEASE,
    LAB_PORTS,
    TO_RELEASE,
    RunningLab,
    haproxy_command,
    listening,
    processes_under,
)

pytestmark = pytest.mark.e2e


def vip(lab: RunningLab):  # type: ignore[no-untyped-def]
    return seed.connect(lab.state_dir / "clouds.yaml", "lab-vip")


def haproxy(lab: RunningLab, command: str) -> str:
    return haproxy_command(lab.state_dir / "haproxy.sock", command)


def db(lab: RunningLab, side: str, database: str | None = None) -> pymysql.Connection:
    inventory = load_inventory(lab.state_dir / "sbs.yaml")
    ref = inventory.side(side).database
    return pymysql.connect(host=ref.host, port=ref.port, user=ref.user,
                           password=resolve_password(ref) or "", database=database)


def test_a_token_is_issued_through_the_vip_by_the_old_keystone(lab: RunningLab) -> None:
    log = lab.state_dir / "log" / "old-keystone.log"
    before = log.read_text().count("POST /v3/auth/tokens")
    conn = vip(lab)
    token = conn.authorize()
    assert token
    # wsgiref logs a request after answering it: give the line a moment to land
    deadline = time.monotonic() + 5
    while log.read_text().count("POST /v3/auth/tokens") == before and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    assert log.read_text().count("POST /v3/auth/tokens") > before
    states = {line.split()[3]: line.split() for line in
              haproxy(lab, "show servers state keystone_api").splitlines()[2:] if line}
    assert states["old-ctl1"][5] == "2"  # operational state: UP
    assert int(states["new-ctl1"][6]) & 1  # admin state: forced maintenance
    # The custom, non-default token lifetime of the old keystone.conf is in force.
    access = conn.session.auth.get_access(conn.session)
    lifetime = (access.expires - access.issued).total_seconds()
    assert abs(lifetime - 7200) < 5


def test_seed_data_is_visible_through_the_vip(lab: RunningLab) -> None:
    conn = vip(lab)
    facts = json.loads((lab.state_dir / "seed.json").read_text())
    projects = {p.name: p.id for p in conn.identity.projects()}
    assert {"sbs-alpha", "sbs-beta"} <= set(projects)
    users = {u.name: u for u in conn.identity.users()}
    assert users["alice"].id == facts["users"]["alice"]
    group = conn.identity.find_group("sbs-operators")
    assert {u.name for u in conn.identity.group_users(group)} == {"alice", "bob"}
    assignments = list(conn.identity.role_assignments(user_id=users["alice"].id))
    assert any(a.scope.get("project", {}).get("id") == projects["sbs-alpha"]
               for a in assignments)
    credentials = list(conn.identity.credentials(user_id=users["alice"].id))
    assert [c.type for c in credentials] == ["ec2"]
    assert json.loads(credentials[0].blob)["access"] == "sbs-lab-access-alice"
    image = conn.image.find_image(seed.IMAGE_NAME)
    assert image is not None and image.checksum == seed.IMAGE_MD5
    data = conn.image.download_image(image).content
    assert hashlib.sha512(data).hexdigest() == seed.IMAGE_SHA512
    # in the store both controllers share, as glance's database locates it
    stored = lab.state_dir / "shared" / "glance" / "images" / image.id
    assert stored.stat().st_size == len(seed.IMAGE_DATA)


def test_the_custom_policy_is_enforced(lab: RunningLab) -> None:
    # The old side's policy.yaml lets readers list groups; by default a project-scoped
    # member like alice is refused.
    import openstack

    alice_password = (lab.state_dir / "secrets" / "alice.password").read_text().strip()
    conn = openstack.connect(auth_url="http://127.0.0.10:5000/v3", username="alice",
                             password=alice_password, project_name="sbs-alpha",
                             user_domain_name="Default", project_domain_name="Default",
                             region_name="RegionOne")
    assert "sbs-operators" in {g.name for g in conn.identity.groups()}


def test_the_new_controller_is_installed_but_holds_no_data(lab: RunningLab) -> None:
    root = lab.state_dir / "new"
    manage = root / "usr" / "bin" / "keystone-manage"
    assert f"keystone-{TO_RELEASE}-" in str(manage.resolve())
    assert (root / "etc" / "keystone" / "keystone.conf").is_file()
    assert not (root / "etc" / "keystone" / "fernet-keys").exists()
    assert not processes.port_open(SIDE_ADDRESS["new"], 5000)
    with db(lab, "new") as connection, connection.cursor() as cursor:
        cursor.execute("SHOW DATABASES")
        databases = {row[0] for row in cursor.fetchall()}
    assert not databases & {"keystone", "glance", "nova_api", "nova", "nova_cell0"}
    # venvs of every release on the way, for the fast-forward db_syncs
    control = load_inventory(lab.state_dir / "sbs.yaml").new.services["keystone"]
    for release in (*suggest_via(FROM_RELEASE, TO_RELEASE), TO_RELEASE):
        manage = Path(control.bin_dir_for(release)) / "keystone-manage"
        assert f"keystone-{release}-" in str(manage.resolve())


def test_nova_cell_mappings_store_the_old_database_urls(lab: RunningLab) -> None:
    with db(lab, "old", "nova_api") as connection, connection.cursor() as cursor:
        cursor.execute("SELECT name, database_connection FROM cell_mappings")
        mappings = dict(cursor.fetchall())
    assert set(mappings) == {"cell0", "cell1"}
    for url in mappings.values():
        assert f"@{SIDE_ADDRESS['old']}:{DB_PORT}/" in url


def test_the_inventory_is_valid_and_its_secrets_resolve(lab: RunningLab) -> None:
    inventory = load_inventory(lab.state_dir / "sbs.yaml", check_secrets=True)
    assert inventory.release.from_ == FROM_RELEASE
    assert inventory.release.via == suggest_via(FROM_RELEASE, TO_RELEASE)
    assert Path(inventory.hosts["old-ctl1"].root) == lab.state_dir / "old"
    mode = (lab.state_dir / "clouds.yaml").stat().st_mode & 0o777
    assert mode == 0o600


def test_inventory_service_commands_stop_and_start_a_service(lab: RunningLab) -> None:
    inventory = load_inventory(lab.state_dir / "sbs.yaml")
    control = inventory.old.services["glance"]
    assert control.stop and control.start and control.status
    subprocess.run(control.stop, shell=True, check=True, timeout=60)
    assert not processes.port_open(SIDE_ADDRESS["old"], 9292)
    assert subprocess.run(control.status, shell=True, timeout=60).returncode == 3
    subprocess.run(control.start, shell=True, check=True, timeout=120)
    assert subprocess.run(control.status, shell=True, timeout=60).returncode == 0
    # HAProxy marked the server down meanwhile; its next health check brings it back.
    deadline = time.monotonic() + 15
    while processes.http_status("http://127.0.0.10:9292/versions") != 200 and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    assert vip(lab).image.find_image(seed.IMAGE_NAME) is not None


def test_status_reports_every_component(lab: RunningLab) -> None:
    rows = json.loads(lab.cli("status", "--json").stdout)["components"]
    by_name = {row["component"]: row for row in rows}
    for name in ("old-mariadb", "new-mariadb", "old-keystone", "old-glance", "haproxy"):
        assert by_name[name]["running"] and by_name[name]["pid"], name
    assert not by_name["new-keystone"]["running"]


def test_reset_returns_the_new_controller_to_empty(lab: RunningLab) -> None:
    # What a `sbs prepare` and a cutover leave behind, in miniature.
    with db(lab, "new") as connection, connection.cursor() as cursor:
        cursor.execute("CREATE DATABASE keystone")
    new_etc = lab.state_dir / "new" / "etc" / "keystone"
    shutil.copytree(lab.state_dir / "old" / "etc" / "keystone" / "fernet-keys",
                    new_etc / "fernet-keys")
    (new_etc / "keystone.conf").write_text("[DEFAULT]\n# translated by sbs\n")
    haproxy(lab, "set server keystone_api/new-ctl1 state ready")
    lab.cli("reset")
    with db(lab, "new") as connection, connection.cursor() as cursor:
        assert cursor.execute("SHOW DATABASES LIKE 'keystone'") == 0
    assert not (new_etc / "fernet-keys").exists()
    assert "2026.1" in (new_etc / "keystone.conf").read_text()
    states = {line.split()[3]: line.split() for line in
              haproxy(lab, "show servers state keystone_api").splitlines()[2:] if line}
    assert int(states["new-ctl1"][6]) & 1  # admin state: forced maintenance again
    assert vip(lab).authorize()


def test_zz_down_leaves_nothing_and_a_second_up_reuses_the_venvs(lab: RunningLab) -> None:
    rows = json.loads(lab.cli("status", "--json").stdout)["components"]
    pids = [row["pid"] for row in rows if row["pid"]]
    assert len(pids) >= 5
    venv_mtimes = {v["path"]: Path(v["path"]).stat().st_mtime for v in lab.up_report["venvs"]}
    assert processes_under(lab.state_dir)  # the check below can see lab processes
    # A switched backend (database-only nova's, so no API is disturbed) stays switched.
    haproxy(lab, "set server nova_api/new-ctl1 state ready")
    haproxy(lab, "set server nova_api/old-ctl1 state maint")
    lab.cli("down")
    assert [pid for pid in pids if processes.pid_alive(pid)] == []
    assert listening(LAB_PORTS) == []
    assert processes_under(lab.state_dir) == []
    started = datetime.now()
    report = lab.up()
    assert [v for v in report["venvs"] if v["built"]] == []
    assert {v["path"]: Path(v["path"]).stat().st_mtime for v in report["venvs"]} == venv_mtimes
    assert {"old-mariadb", "new-mariadb", "haproxy", "old-keystone", "old-glance"} <= \
        set(report["started"])
    assert report["steps"] == []  # nothing set up twice
    nova = {line.split()[3]: line.split() for line in
            haproxy(lab, "show servers state nova_api").splitlines()[2:] if line}
    assert int(nova["old-ctl1"][6]) & 1  # admin state: forced maintenance, as left
    assert nova["new-ctl1"][5] == "2"  # running
    assert (datetime.now() - started).total_seconds() < 120
    assert vip(lab).authorize()
