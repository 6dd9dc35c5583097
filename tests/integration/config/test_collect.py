"""Collect keystone's configuration and key repositories from an "old controller"
root and write them to a "new controller" root, through the real LocalHost (find,
install, atomic writes with chown)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sidebyside.config.collect import (
    collect,
    compare_manifests,
    write_collected,
)
from sidebyside.config.ini import Document
from sidebyside.errors import VerificationError
from sidebyside.remote.local import LocalHost

pytestmark = pytest.mark.integration

OWNER, GROUP = "nobody", "nogroup"  # any user/group other than root: ownership must travel


def _file(root: Path, path: str, data: bytes, mode: int, owner: bool = True) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    os.chmod(target, mode)
    if owner:
        os.chown(target, _uid(), _gid())


def _uid() -> int:
    import pwd
    return pwd.getpwnam(OWNER).pw_uid


def _gid() -> int:
    import grp
    return grp.getgrnam(GROUP).gr_gid


@pytest.fixture
def old_root(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("changing file ownership needs root")
    root = tmp_path / "old-ctl1"
    _file(root, "/etc/keystone/keystone.conf",
          b"[DEFAULT]\ndebug = true\n\n[database]\n"
          b"connection = mysql://keystone:KsCollectPass-1@old-ctl1/keystone\n\n"
          b"[cache]\ntls_cafile = /etc/keystone/tls/ca.pem\n"
          b"tls_keyfile = /etc/keystone/tls/memcache.key\n", 0o640)
    _file(root, "/etc/keystone/keystone.conf.d/20-b.conf", b"[DEFAULT]\ndebug = false\n", 0o640)
    _file(root, "/etc/keystone/keystone.conf.d/10-a.conf", b"[token]\nexpiration = 600\n", 0o640)
    _file(root, "/etc/keystone/keystone.conf.d/README", b"not read by oslo.config\n", 0o644)
    _file(root, "/etc/keystone/keystone-paste.ini", b"[pipeline:x]\npipeline = a b\n", 0o644,
          owner=False)
    _file(root, "/etc/keystone/policy.yaml", b'"identity:list_users": "role:admin"\n', 0o640)
    for index in range(3):
        _file(root, f"/etc/keystone/fernet-keys/{index}", os.urandom(32), 0o600)
    os.chmod(root / "etc/keystone/fernet-keys", 0o700)
    os.chown(root / "etc/keystone/fernet-keys", _uid(), _gid())
    _file(root, "/etc/keystone/tls/ca.pem", b"-----BEGIN CERTIFICATE-----\n", 0o644)
    _file(root, "/etc/keystone/tls/memcache.key", b"-----BEGIN PRIVATE KEY-----\n", 0o600)
    return root


def test_collect_and_write_keep_owner_group_mode_and_content(old_root: Path,
                                                              tmp_path: Path) -> None:
    host = LocalHost()
    collected = collect(host, "keystone", root=str(old_root))
    manifest = collected.manifest
    by_path = {e.path: e for e in manifest.entries}

    conf = by_path["/etc/keystone/keystone.conf"]
    assert (conf.kind, conf.owner, conf.group, conf.mode) == ("oslo", OWNER, GROUP, 0o640)
    assert by_path["/etc/keystone/keystone-paste.ini"].owner == "root"
    # drop-ins in oslo.config's order; README is not a drop-in
    drop_ins = [e.path for e in manifest.entries if e.kind == "drop_in"]
    assert drop_ins == ["/etc/keystone/keystone.conf.d/10-a.conf",
                        "/etc/keystone/keystone.conf.d/20-b.conf"]
    keys = [e for e in manifest.entries if e.kind == "key"]
    assert sorted(e.path for e in keys) == [f"/etc/keystone/fernet-keys/{i}" for i in range(3)]
    assert all(e.mode == 0o600 and e.owner == OWNER for e in keys)
    key_dir = by_path["/etc/keystone/fernet-keys"]
    assert key_dir.is_dir and key_dir.mode == 0o700
    # TLS files the options point at
    assert {e.path for e in manifest.entries if e.kind == "tls"} == {
        "/etc/keystone/tls/ca.pem", "/etc/keystone/tls/memcache.key"}
    assert "/etc/keystone/credential-keys" in manifest.missing
    assert "/etc/keystone/policy.json" in manifest.missing
    # the manifest holds no content, and no secret
    assert "KsCollectPass-1" not in manifest.to_json()
    assert conf.sha256 is not None and len(conf.sha256) == 64

    # write to the new controller, with a translated keystone.conf
    new_root = tmp_path / "new-ctl1"
    document = Document.parse(collected.contents["/etc/keystone/keystone.conf"])
    document.set("database", "connection",
                 "mysql+pymysql://keystone:KsCollectPass-1@new-ctl1/keystone")
    written = write_collected(host, manifest, collected.contents, root=str(new_root),
                              replacements={"/etc/keystone/keystone.conf": document.to_bytes()})

    new_conf = new_root / "etc/keystone/keystone.conf"
    info = new_conf.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (_uid(), _gid(), 0o640)
    assert b"mysql+pymysql://" in new_conf.read_bytes()
    key_info = (new_root / "etc/keystone/fernet-keys").stat()
    assert stat.S_IMODE(key_info.st_mode) == 0o700 and key_info.st_uid == _uid()
    assert (new_root / "etc/keystone/fernet-keys/1").read_bytes() == \
        (old_root / "etc/keystone/fernet-keys/1").read_bytes()

    # collecting the new side again gives exactly the manifest of what was written
    again = collect(host, "keystone", root=str(new_root)).manifest
    assert compare_manifests(written, again) == []
    # and against the old side only the translated file differs
    assert compare_manifests(manifest, again) == [
        f"/etc/keystone/keystone.conf: sha256 {conf.sha256} != "
        f"{again.entry('/etc/keystone/keystone.conf').sha256}"]  # type: ignore[union-attr]


def test_missing_required_file_names_host_and_path(tmp_path: Path) -> None:
    with pytest.raises(VerificationError, match=r"localhost: .*/etc/glance/glance-api.conf: "
                                                r"missing"):
        collect(LocalHost(), "glance", root=str(tmp_path))


def test_horizon_settings_are_collected_as_django_settings(tmp_path: Path) -> None:
    root = tmp_path / "old"
    target = root / "etc/openstack-dashboard/local_settings.py"
    target.parent.mkdir(parents=True)
    target.write_text("OPENSTACK_HOST = 'old-ctl1'\n")
    collected = collect(LocalHost(), "horizon", root=str(root))
    entry = collected.manifest.entry("/etc/openstack-dashboard/local_settings.py")
    assert entry is not None and entry.kind == "django" and not entry.review
    assert collected.manifest.django_files == [entry]
    assert collected.contents[entry.path] == b"OPENSTACK_HOST = 'old-ctl1'\n"
