"""Backups of the old controllers' configs and key repositories, through the real
LocalHost (find, reads) from two "old controller" roots: every file with its sha256,
private modes, verification that catches tampering, and a restore test."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from sidebyside.config import backup as config_backup
from sidebyside.errors import VerificationError
from sidebyside.remote.local import LocalHost

pytestmark = pytest.mark.integration

CONTROLLERS = ("old-ctl1", "old-ctl2")
SERVICES = ("keystone", "glance")


def _file(root: Path, path: str, data: bytes, mode: int) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    os.chmod(target, mode)


def _controller(root: Path, name: str, address: str) -> None:
    _file(root, "/etc/keystone/keystone.conf",
          f"[cache]\nmemcache_servers = {address}:11211\n".encode(), 0o640)
    _file(root, "/etc/keystone/policy.yaml", b'"identity:list_users": "role:admin"\n', 0o640)
    for index in range(3):
        _file(root, f"/etc/keystone/fernet-keys/{index}", os.urandom(32), 0o600)
    _file(root, "/etc/keystone/credential-keys/0", os.urandom(32), 0o600)
    os.chmod(root / "etc/keystone/fernet-keys", 0o700)
    _file(root, "/etc/glance/glance-api.conf", f"[DEFAULT]\nbind_host = {address}\n".encode(),
          0o640)


def tree_hashes(root: Path) -> dict[str, tuple[str, int]]:
    """path under root -> (sha256, mode): what the old controller holds, read apart
    from the code under test."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            found["/" + str(path.relative_to(root))] = (
                hashlib.sha256(path.read_bytes()).hexdigest(), stat.S_IMODE(path.stat().st_mode))
    return found


@pytest.fixture
def old_roots(tmp_path: Path) -> dict[str, Path]:
    roots = {}
    for index, name in enumerate(CONTROLLERS, start=1):
        roots[name] = tmp_path / "lab" / name
        _controller(roots[name], name, f"10.0.0.1{index}")
    return roots


@pytest.fixture
def taken(old_roots: dict[str, Path], tmp_path: Path) -> Path:
    sources = [config_backup.Source(name, LocalHost(), str(root))
               for name, root in old_roots.items()]
    dest = tmp_path / "backup"
    config_backup.backup_configs(sources, SERVICES, dest)
    return dest


def test_every_file_of_every_old_controller_with_its_sha256_privately(
        old_roots: dict[str, Path], tmp_path: Path) -> None:
    before = {name: tree_hashes(root) for name, root in old_roots.items()}
    sources = [config_backup.Source(name, LocalHost(), str(root))
               for name, root in old_roots.items()]
    dest = tmp_path / "backup"
    manifest = config_backup.backup_configs(sources, SERVICES, dest)

    files = {(e["controller"], e["path"]): e for e in manifest["entries"] if "sha256" in e}
    expected = {(name, path) for name, tree in before.items() for path in tree}
    assert set(files) == expected  # every file, keys and configs, of both controllers
    for (name, path), entry in files.items():
        sha256, mode = before[name][path]
        assert entry["sha256"] == sha256
        assert entry["mode"] == f"{mode:04o}"  # the original mode, for a real restore
        copy = dest / "configs" / name / path.lstrip("/")
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == sha256
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert {e["kind"] for e in files.values()} >= {"oslo", "policy", "key"}
    for directory in [dest / "configs", *(p for p in (dest / "configs").rglob("*")
                                           if p.is_dir())]:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert stat.S_IMODE((dest / "configs" / "manifest.json").stat().st_mode) == 0o600
    # the old controllers were only read
    assert {name: tree_hashes(root) for name, root in old_roots.items()} == before
    assert config_backup.check_config_backup(dest)["entries"] == manifest["entries"]


def test_a_changed_file_fails_verification_with_exit_9(taken: Path) -> None:
    key = taken / "configs" / "old-ctl2" / "etc" / "keystone" / "fernet-keys" / "1"
    key.write_bytes(b"not the key that was backed up")
    with pytest.raises(VerificationError) as raised:
        config_backup.check_config_backup(taken)
    assert raised.value.exit_code == 9
    assert "old-ctl2/etc/keystone/fernet-keys/1: sha256 differs" in str(raised.value)


def test_a_missing_or_an_added_file_fails_verification(taken: Path) -> None:
    (taken / "configs" / "old-ctl1" / "etc" / "glance" / "glance-api.conf").unlink()
    (taken / "configs" / "old-ctl1" / "etc" / "keystone" / "planted").write_bytes(b"x")
    with pytest.raises(VerificationError) as raised:
        config_backup.check_config_backup(taken)
    message = str(raised.value)
    assert "old-ctl1/etc/glance/glance-api.conf: missing" in message
    assert "old-ctl1/etc/keystone/planted: not in the manifest" in message


def test_a_manifest_edited_to_match_edited_files_is_caught_by_its_recorded_sha256(
        taken: Path) -> None:
    recorded = config_backup.manifest_sha256(taken)
    conf = taken / "configs" / "old-ctl1" / "etc" / "keystone" / "keystone.conf"
    conf.write_bytes(b"[cache]\nmemcache_servers = evil:11211\n")
    path = taken / "configs" / "manifest.json"
    manifest = json.loads(path.read_text())
    for entry in manifest["entries"]:
        if entry["controller"] == "old-ctl1" and entry["path"] == "/etc/keystone/keystone.conf":
            entry["sha256"] = hashlib.sha256(conf.read_bytes()).hexdigest()
    path.write_text(json.dumps(manifest))
    config_backup.check_config_backup(taken)  # consistent with itself...
    with pytest.raises(VerificationError, match="manifest.json: sha256 differs"):
        config_backup.check_config_backup(taken, expected_manifest_sha256=recorded)


def test_a_manifest_pointing_outside_the_backup_is_refused(taken: Path) -> None:
    path = taken / "configs" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["entries"][-1]["path"] = "/../../../../etc/passwd"
    path.write_text(json.dumps(manifest))
    with pytest.raises(VerificationError, match="not a path inside the backup"):
        config_backup.check_config_backup(taken)


def test_the_restore_test_restores_every_file_and_compares(taken: Path,
                                                           tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    report = config_backup.restore_test(taken, scratch_dir=scratch)
    manifest = json.loads((taken / "configs" / "manifest.json").read_text())
    files = [e for e in manifest["entries"] if "sha256" in e]
    assert report["equal"] and report["files"] == len(files) == 2 * 7
    assert report["bytes"] == sum(e["size"] for e in files)
    assert not any(scratch.iterdir())  # the restored copy is removed afterwards


def test_the_restore_test_of_a_tampered_backup_fails(taken: Path, tmp_path: Path) -> None:
    (taken / "configs" / "old-ctl1" / "etc" / "keystone" / "policy.yaml").write_bytes(b"{}")
    with pytest.raises(VerificationError) as raised:
        config_backup.restore_test(taken, scratch_dir=tmp_path / "scratch")
    assert raised.value.exit_code == 9
