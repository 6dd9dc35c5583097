"""Two real Keystone releases, old and new, as a side-by-side upgrade leaves them.

The old keystone (2024.1) is bootstrapped, its database copied, the copy upgraded with
the new release's (2026.1) `keystone-manage db_sync`, and both are served by the lab's
WSGI server from the lab's cached venvs (`sidebyside.lab.venvs.ensure_venv`). The
database is SQLite, so that no MariaDB is needed and the copy is a file copy; the
lab's e2e tests cover MariaDB. Each keystone on a loopback address of its own
(tests/conftest.py's `loopback_address`) and a free port.
"""

from __future__ import annotations

import base64
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from sidebyside.lab import processes
from sidebyside.lab.lockfiles import default_cache_root
from sidebyside.lab.programs import WSGI_APPS, WSGI_SERVER
from sidebyside.lab.venvs import ensure_venv
from tests.conftest import free_port, loopback_address

OLD_RELEASE, NEW_RELEASE = "2024.1", "2026.1"
ADDRESS = {"old": loopback_address(), "new": loopback_address()}
RELEASE = {"old": OLD_RELEASE, "new": NEW_RELEASE}
ADMIN_PASSWORD = "it-admin-" + base64.urlsafe_b64encode(os.urandom(9)).decode()


@dataclass
class Keystones:
    root: Path
    ports: dict[str, int]
    clouds_yaml: Path
    inventory: Path

    def url(self, side: str) -> str:
        return f"http://{ADDRESS[side]}:{self.ports[side]}/v3"


def _conf(root: Path, side: str) -> Path:
    etc = root / side / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    conf = etc / "keystone.conf"
    conf.write_text(
        "[DEFAULT]\n"
        f"log_file = {root / side / 'keystone.log'}\n"
        "[database]\n"
        # The WSGI server is threaded: a connection may be closed by another thread.
        f"connection = sqlite:///{root / side / 'keystone.db'}?check_same_thread=false\n"
        "[fernet_tokens]\n"
        f"key_repository = {root / side / 'fernet-keys'}\n"
        "[fernet_receipts]\n"
        f"key_repository = {root / side / 'fernet-keys'}\n"
        "[token]\nprovider = fernet\n")
    return conf


def _manage(venv_bin: Path, conf: Path, *args: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run([str(venv_bin / "keystone-manage"), "--config-file", str(conf),
                             *args], capture_output=True, text=True, timeout=300,
                            env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"keystone-manage {args[0]} exited {result.returncode}: "
                           f"{result.stderr[-2000:]}")


def _fernet_keys(directory: Path) -> None:
    """What `keystone-manage fernet_setup` writes (a staged and a primary key), without
    its seconds of start-up."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in ("0", "1"):
        (directory / name).write_bytes(base64.urlsafe_b64encode(os.urandom(32)))
        os.chmod(directory / name, 0o600)


def _clouds(keystones: Keystones) -> dict[str, object]:
    def cloud(side: str) -> dict[str, object]:
        return {"auth": {"auth_url": keystones.url(side), "username": "admin",
                         "password": ADMIN_PASSWORD, "project_name": "admin",
                         "user_domain_name": "Default", "project_domain_name": "Default"},
                "region_name": "RegionOne", "identity_api_version": 3,
                "identity_endpoint_override": keystones.url(side)}
    # No HAProxy here: the "VIP" cloud reaches the old keystone, as before a cutover.
    return {"clouds": {"it-old": cloud("old"), "it-new": cloud("new"), "it-vip": cloud("old")}}


def _inventory(keystones: Keystones) -> dict[str, object]:
    def side(name: str) -> dict[str, object]:
        return {"controllers": [f"{name}-ctl1"],
                "database": {"host": ADDRESS[name], "port": 3306, "user": "root"},
                "cloud": f"it-{name}",
                "services": {"keystone": {"stop": "true", "start": "true"}}}
    return {"environment": "cloud-it",
            "release": {"from": OLD_RELEASE, "to": NEW_RELEASE, "via": ["2025.1"]},
            "services": ["keystone"],
            "hosts": {"old-ctl1": {"address": ADDRESS["old"], "transport": "local"},
                      "new-ctl1": {"address": ADDRESS["new"], "transport": "local"},
                      "lb1": {"address": "127.0.0.1", "transport": "local"}},
            "old": side("old"), "new": side("new"),
            "ha": {"haproxy": {"nodes": [{"host": "lb1", "socket": str(keystones.root / "x")}],
                               "backends": {"keystone": {"backend": "keystone_api",
                                                         "old": ["old-ctl1"],
                                                         "new": ["new-ctl1"]}}},
                   "vip_cloud": "it-vip"},
            "clouds_yaml": "clouds.yaml"}


@pytest.fixture(scope="session")
def keystones(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keystones]:
    root = tmp_path_factory.mktemp("keystones")
    with ThreadPoolExecutor(max_workers=2) as pool:
        venvs = dict(zip(("old", "new"), pool.map(
            lambda side: ensure_venv("keystone", RELEASE[side], default_cache_root()),
            ("old", "new")), strict=True))
    ports = {side: free_port(ADDRESS[side]) for side in ("old", "new")}
    keystones = Keystones(root, ports, root / "clouds.yaml", root / "sbs.yaml")
    old_conf, new_conf = _conf(root, "old"), _conf(root, "new")
    _fernet_keys(root / "old" / "fernet-keys")
    _manage(venvs["old"].bin, old_conf, "db_sync")
    _manage(venvs["old"].bin, old_conf, "bootstrap", "--bootstrap-username", "admin",
            "--bootstrap-project-name", "admin", "--bootstrap-role-name", "admin",
            "--bootstrap-region-id", "RegionOne",
            "--bootstrap-public-url", keystones.url("old"),
            env={"OS_BOOTSTRAP_PASSWORD": ADMIN_PASSWORD})
    # The side-by-side copy: database and keys, then the new release's schema upgrade.
    shutil.copy2(root / "old" / "keystone.db", root / "new" / "keystone.db")
    shutil.copytree(root / "old" / "fernet-keys", root / "new" / "fernet-keys")
    _manage(venvs["new"].bin, new_conf, "db_sync")
    for side in ("old", "new"):
        # WAL: the threaded server's readers no longer make a writer's commit fail with
        # "database is locked" (verification writes on the new side)
        with sqlite3.connect(root / side / "keystone.db") as db:
            db.execute("PRAGMA journal_mode=WAL")
    keystones.clouds_yaml.write_text(yaml.safe_dump(_clouds(keystones)))
    os.chmod(keystones.clouds_yaml, 0o600)
    keystones.inventory.write_text(yaml.safe_dump(_inventory(keystones), sort_keys=False))
    pids: dict[str, int] = {}
    try:
        for side in ("old", "new"):
            argv = [str(venvs[side].python), str(WSGI_SERVER), "--host", ADDRESS[side],
                    "--port", str(ports[side]), "--pid-file", str(root / f"{side}.pid")]
            for app in WSGI_APPS["keystone"]:
                argv += ["--app", app]
            pids[side] = processes.start_detached(
                argv, pid_file=root / f"{side}.pid", log_file=root / f"{side}.log",
                env={"OS_KEYSTONE_CONFIG_DIR": str(root / side / "etc"),
                     "OS_KEYSTONE_CONFIG_FILES": "keystone.conf"})
        for side in ("old", "new"):
            processes.wait_http_ok(keystones.url(side), what=f"{side} keystone",
                                   pid=pids[side], log_file=root / f"{side}.log")
        yield keystones
    finally:
        for side, pid in pids.items():
            processes.stop_pid(pid, what=f"{side} keystone")
