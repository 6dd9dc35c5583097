"""The whole prepare step for keystone, root to root through LocalHost, with the real
2024.1 -> 2025.1 metadata and the 2026.1 oslo-config-validator."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sidebyside.config.metadata import load_metadata
from sidebyside.config.migrate import Side, migrate_service_config
from sidebyside.config.translate import HostMap
from sidebyside.errors import VerificationError
from sidebyside.remote.local import LocalHost

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[2] / "data" / "config"


def metadata(service: str, release: str) -> tuple:  # type: ignore[type-arg]
    path = DATA / "metadata" / f"{service}-{release}.yaml"
    return load_metadata(str(path), service=service, release=release), path.read_text()


@pytest.fixture
def old_root(tmp_path: Path) -> Path:
    root = tmp_path / "old-ctl1"
    etc = root / "etc/keystone"
    (etc / "fernet-keys").mkdir(parents=True)
    conf = (DATA / "golden" / "keystone-2024.1-2025.1" / "keystone.conf").read_bytes()
    (etc / "keystone.conf").write_bytes(conf)
    os.chmod(etc / "keystone.conf", 0o640)
    (etc / "keystone-paste.ini").write_text("[pipeline:public_api]\npipeline = a\n")
    for index in range(2):
        (etc / "fernet-keys" / str(index)).write_bytes(os.urandom(32))
        os.chmod(etc / "fernet-keys" / str(index), 0o600)
    os.chmod(etc / "fernet-keys", 0o700)
    return root


def test_keystone_config_migrates_validates_and_verifies(
        old_root: Path, tmp_path: Path, oslo_config_venv: Path) -> None:
    new_root = tmp_path / "new-ctl1"
    host = LocalHost()
    result = migrate_service_config(
        "keystone", "2024.1", "2025.1",
        old=Side(host, str(old_root)),
        new=Side(host, str(new_root), venv_bin=str(oslo_config_venv)),
        host_map=HostMap({"old-ctl1.lab": "new-ctl1.lab"}, database="db-new.lab:3306"),
        new_metadata=metadata("keystone", "2025.1"),
        old_metadata=metadata("keystone", "2024.1"),
        metadata_dir=str(tmp_path / "meta"))
    conf = new_root / "etc/keystone/keystone.conf"
    assert b"mysql+pymysql://keystone:KsDbPass-2024@db-new.lab:3306/keystone" in \
        conf.read_bytes()
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert stat.S_IMODE((new_root / "etc/keystone/fernet-keys").stat().st_mode) == 0o700
    assert [v.ok for v in result.validation] == [True]
    assert (tmp_path / "meta" / "keystone-2025.1-options.yaml").exists()
    summary = result.report.files[0].summary()
    assert summary["removed"] == 6 and summary["value rewritten"] == 3
    assert "KsDbPass-2024" not in str(result.to_dict())


def test_validator_errors_stop_the_step(old_root: Path, tmp_path: Path,
                                        oslo_config_venv: Path) -> None:
    conf = old_root / "etc/keystone/keystone.conf"
    conf.write_text(conf.read_text() + "\n[token]\nno_such_option = 1\n")
    with pytest.raises(VerificationError, match="token/no_such_option is not part of"):
        migrate_service_config(
            "keystone", "2024.1", "2025.1", old=Side(LocalHost(), str(old_root)),
            new=Side(LocalHost(), str(tmp_path / "new"), venv_bin=str(oslo_config_venv)),
            new_metadata=metadata("keystone", "2025.1"),
            metadata_dir=str(tmp_path / "meta"))
