"""Verification's own test resources leave no row behind, on real services and a real
MariaDB: the new release's keystone, placement and glance (from the lab's cached venvs)
on one server; a position is recorded as the cutover records it (db/position.py
record_position, with the catalog's background writes), the smoke's create/delete checks
run, and changes_since finds nothing, so rollback would not refuse. The controls show
the accounting does see what the rejected alternatives leave: a glance image (soft
delete) and a keystone project (revocation events) after their delete."""

from __future__ import annotations

import base64
import os
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openstack.connection
import pytest

from sidebyside.cloud.own_resources import OWN_RESOURCES
from sidebyside.cloud.smoke import run_smoke
from sidebyside.cloud.writes import WriteGuard
from sidebyside.db import DbEndpoint
from sidebyside.db.mariadb_server import MariaDBServer
from sidebyside.db.position import changes_since, record_position
from sidebyside.lab import processes
from sidebyside.lab.lockfiles import default_cache_root
from sidebyside.lab.programs import CONFIG_ENV, WSGI_APPS, WSGI_SERVER
from sidebyside.lab.venvs import ensure_venv
from sidebyside.services.catalog import background_writes_of
from tests.conftest import MariaDBFactory, free_port
from tests.integration.db.conftest import endpoint_of

pytestmark = pytest.mark.integration
RELEASE = "2026.1"  # the new side's: the one verification writes
SERVICES = ("keystone", "placement", "glance")
DATABASES = list(SERVICES)
PASSWORD = "it-admin-" + base64.urlsafe_b64encode(os.urandom(9)).decode()


@dataclass
class Cloud:
    endpoint: DbEndpoint
    conns: dict[str, Any]  # service -> a connection reaching it directly


def _start(argv: list[str], root: Path, name: str, url: str, env: dict[str, str] | None = None
           ) -> int:
    pid = processes.start_detached(argv, pid_file=root / f"{name}.pid",
                                   log_file=root / f"{name}.log", env=env)
    processes.wait_http_ok(url, what=name, pid=pid, log_file=root / f"{name}.log",
                           budget=120.0)
    return pid


def _wsgi(service: str, venv: Any, url: str, root: Path,
          etc: Path) -> tuple[list[str], dict[str, str]]:
    """The service's API in the lab's WSGI server: its argv and the environment naming
    its config files in `etc`."""
    where = urlsplit(url)
    argv = [str(venv.python), str(WSGI_SERVER), "--host", str(where.hostname), "--port",
            str(where.port), "--pid-file", str(root / f"{service}.pid")]
    for app in WSGI_APPS[service]:
        argv += ["--app", app]
    dir_var, files_var, files = CONFIG_ENV[service]
    return argv, {dir_var: str(etc), files_var: files}


def _keystone(venv: Any, root: Path, db: str, urls: dict[str, str]
              ) -> tuple[list[str], dict[str, str]]:
    etc = root / "keystone"
    (etc / "fernet-keys").mkdir(parents=True, mode=0o700)
    for name in ("0", "1"):
        key = etc / "fernet-keys" / name
        key.write_bytes(base64.urlsafe_b64encode(os.urandom(32)))
        key.chmod(0o600)
    (etc / "keystone.conf").write_text(
        f"[database]\nconnection = {db}/keystone\n"
        f"[fernet_tokens]\nkey_repository = {etc / 'fernet-keys'}\n"
        f"[fernet_receipts]\nkey_repository = {etc / 'fernet-keys'}\n"
        "[token]\nprovider = fernet\n")
    conf = ["--config-file", str(etc / "keystone.conf")]
    processes.run_tool([str(venv.bin / "keystone-manage"), *conf, "db_sync"],
                       what="keystone-db-sync")
    processes.run_tool([str(venv.bin / "keystone-manage"), *conf, "bootstrap",
                        "--bootstrap-username", "admin", "--bootstrap-project-name", "admin",
                        "--bootstrap-role-name", "admin", "--bootstrap-region-id",
                        "RegionOne", "--bootstrap-public-url", urls["keystone"]],
                       what="keystone-bootstrap", env={"OS_BOOTSTRAP_PASSWORD": PASSWORD})
    return _wsgi("keystone", venv, urls["keystone"], root, etc)


def _placement(venv: Any, root: Path, db: str, urls: dict[str, str]
               ) -> tuple[list[str], dict[str, str]]:
    etc = root / "placement"
    etc.mkdir()
    # noauth2: the token "admin" is an admin (placement/auth.py NoAuthMiddleware)
    (etc / "placement.conf").write_text(
        "[api]\nauth_strategy = noauth2\n"
        f"[placement_database]\nconnection = {db}/placement\n")
    processes.run_tool([str(venv.bin / "placement-manage"), "--config-file",
                        str(etc / "placement.conf"), "db", "sync"], what="placement-db-sync")
    return _wsgi("placement", venv, urls["placement"], root, etc)


def _glance(venv: Any, root: Path, db: str, urls: dict[str, str]
            ) -> tuple[list[str], dict[str, str]]:
    etc = root / "glance"
    etc.mkdir()
    where = urlsplit(urls["glance"])
    # keystone's admin stands in for glance's service user
    (etc / "glance-api.conf").write_text(
        f"[DEFAULT]\nbind_host = {where.hostname}\nbind_port = {where.port}\nworkers = 1\n"
        "enabled_backends = file:file\n"
        f"[database]\nconnection = {db}/glance\n"
        f"[file]\nfilesystem_store_datadir = {root / 'images'}/\n"
        "[glance_store]\ndefault_backend = file\n"
        f"[keystone_authtoken]\nwww_authenticate_uri = {urls['keystone']}\n"
        f"auth_url = {urls['keystone']}\nauth_type = password\n"
        "interface = public\nproject_domain_name = Default\nuser_domain_name = Default\n"
        f"project_name = admin\nusername = admin\npassword = {PASSWORD}\n"
        f"[os_glance_staging_store]\nfilesystem_store_datadir = {root / 'staging'}/\n"
        f"[os_glance_tasks_store]\nfilesystem_store_datadir = {root / 'tasks'}/\n"
        f"[oslo_concurrency]\nlock_path = {root / 'lock'}\n"
        "[paste_deploy]\nflavor = keystone\n")
    shutil.copy(venv.path / "etc" / "glance" / "glance-api-paste.ini", etc)
    conf = ["--config-file", str(etc / "glance-api.conf")]
    processes.run_tool([str(venv.bin / "glance-manage"), *conf, "db_sync"],
                       what="glance-db-sync")
    return [str(venv.bin / "glance-api"), *conf], {}


def _connection(service: str, urls: dict[str, str]) -> Any:
    if service == "placement":
        return openstack.connection.Connection(
            auth_type="admin_token", auth={"token": "admin", "endpoint": urls["placement"]},
            placement_endpoint_override=urls["placement"])
    return openstack.connection.Connection(
        auth_type="password", auth={
            "auth_url": urls["keystone"], "username": "admin", "password": PASSWORD,
            "project_name": "admin", "user_domain_name": "Default",
            "project_domain_name": "Default"},
        identity_endpoint_override=urls["keystone"], image_endpoint_override=urls["glance"],
        region_name="RegionOne")


@pytest.fixture(scope="module")
def cloud(mariadb_factory: MariaDBFactory, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Cloud]:
    server: MariaDBServer = mariadb_factory("verify-resources")
    with server.connect() as conn, conn.cursor() as cur:
        for database in DATABASES:
            cur.execute(f"CREATE DATABASE {database} CHARACTER SET utf8mb4")
        conn.commit()
    db = f"mysql+pymysql://root:{server.root_password}@{server.host}:{server.port}"
    root = tmp_path_factory.mktemp("verify-resources")
    address = server.host  # an address of its own already (tests/conftest.py)
    urls = {"keystone": f"http://{address}:{free_port(address)}/v3",
            "placement": f"http://{address}:{free_port(address)}",
            "glance": f"http://{address}:{free_port(address)}"}
    makers = {"keystone": _keystone, "placement": _placement, "glance": _glance}
    with ThreadPoolExecutor(max_workers=3) as pool:
        made = dict(zip(SERVICES, pool.map(
            lambda s: makers[s](ensure_venv(s, RELEASE, default_cache_root()), root, db,
                                urls), SERVICES), strict=True))
    pids: list[int] = []
    try:
        for service, (argv, env) in made.items():  # keystone first: glance logs in there
            health = f"{urls[service]}/versions" if service == "glance" else urls[service]
            pids.append(_start(argv, root, service, health, env))
        yield Cloud(endpoint_of(server), {s: _connection(s, urls) for s in SERVICES})
    finally:
        for pid in pids:
            processes.stop_pid(pid, what="verify-resources service")


def _position(cloud: Cloud) -> dict[str, Any]:
    return record_position(cloud.endpoint, DATABASES,
                           background=background_writes_of(DATABASES))


def _smoke(cloud: Cloud, service: str, *, writes: bool) -> Any:
    guard = WriteGuard(cloud=f"it-{service}", direct=False) if writes else None
    return run_smoke(cloud.conns[service], [service], side="new", cloud=f"it-{service}",
                     writes=guard)


def test_each_create_and_delete_passes_and_leaves_no_row(cloud: Cloud) -> None:
    for service in SERVICES:  # first requests may set up (placement syncs its traits)
        assert _smoke(cloud, service, writes=False).ok
    before = _position(cloud)
    for service in SERVICES:
        report = _smoke(cloud, service, writes=True)
        assert report.ok, report.summary()
        (check,) = [c for c in report.checks if c.name == OWN_RESOURCES[service].check_name]
        assert check.status == "pass" and "read back and deleted" in check.detail
    changes = changes_since(cloud.endpoint, before)
    assert changes["changed"] is False, changes["tables"]
    assert changes["user_changes"] is False


def test_a_deleted_image_leaves_its_row_and_rollback_would_count_it(cloud: Cloud) -> None:
    conn = cloud.conns["glance"]
    before = _position(cloud)
    image = conn.image.post("/images", json={"name": f"it-image-{uuid.uuid4().hex[:8]}",
                                             "disk_format": "raw",
                                             "container_format": "bare"}).json()
    conn.image.delete(f"/images/{image['id']}")
    changes = changes_since(cloud.endpoint, before)
    assert changes["user_changes"] is True
    assert changes["tables"]["glance.images"]["rows_now"] == \
        changes["tables"]["glance.images"]["rows_then"] + 1


def test_a_deleted_project_leaves_rows_and_rollback_would_count_them(cloud: Cloud) -> None:
    conn = cloud.conns["keystone"]
    before = _position(cloud)
    project = conn.identity.create_project(name=f"it-project-{uuid.uuid4().hex[:8]}",
                                           domain_id="default")
    conn.identity.delete_project(project)
    changes = changes_since(cloud.endpoint, before)
    assert changes["user_changes"] is True, changes["tables"]
    # keystone/resource/core.py: a deleted project's tokens are revoked by an event row
    assert "keystone.revocation_event" in changes["tables"], changes["tables"]
