"""The whole prepare step for keystone, root to root through LocalHost, with the real
2024.1 -> 2025.1 metadata and the 2026.1 oslo-config-validator."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sidebyside.config.metadata import load_metadata, service_spec
from sidebyside.config.migrate import Side, migrate_service_config
from sidebyside.config.translate import HostMap
from sidebyside.errors import VerificationError
from sidebyside.remote.local import LocalHost

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[2] / "data" / "config"


def metadata(service: str, release: str) -> dict:  # type: ignore[type-arg]
    """The committed metadata, keyed by the service's main config file."""
    path = DATA / "metadata" / f"{service}-{release}.yaml"
    pair = load_metadata(str(path), service=service, release=release), path.read_text()
    return {service_spec(service).main_file.path: pair}


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
    assert (tmp_path / "meta" / "keystone-2025.1-keystone.conf-options.yaml").exists()
    summary = result.report.files[0].summary()
    assert summary["removed"] == 6 and summary["value rewritten"] == 3
    assert "KsDbPass-2024" not in str(result.to_dict())


def test_without_a_metadata_dir_a_private_one_is_made_and_removed(
        old_root: Path, tmp_path: Path, oslo_config_venv: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    temp = tmp_path / "tmp"  # mktemp -t makes its directory under $TMPDIR
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    seen: list[tuple[str, int]] = []
    host = LocalHost()
    run = host.run

    def watching(argv, **kwargs):  # type: ignore[no-untyped-def]
        if argv[0].endswith("oslo-config-validator"):
            directory = Path(argv[argv.index("--opt-data") + 1]).parent
            seen.append((str(directory), stat.S_IMODE(directory.stat().st_mode)))
        return run(argv, **kwargs)

    monkeypatch.setattr(host, "run", watching)
    result = migrate_service_config(
        "keystone", "2024.1", "2025.1", old=Side(host, str(old_root)),
        new=Side(host, str(tmp_path / "new-ctl1"), venv_bin=str(oslo_config_venv)),
        host_map=HostMap({"old-ctl1.lab": "new-ctl1.lab"}, database="db-new.lab:3306"),
        new_metadata=metadata("keystone", "2025.1"),
        old_metadata=metadata("keystone", "2024.1"))
    assert [v.ok for v in result.validation] == [True]
    assert len(seen) == 1 and seen[0][1] == 0o700
    assert Path(seen[0][0]).parent == temp and Path(seen[0][0]).name.startswith("sbs-config.")
    assert not any(temp.iterdir())  # removed afterwards


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


def test_metadata_generated_on_each_side(old_root: Path, tmp_path: Path,
                                         keystone_2024_1_venv: Path,
                                         keystone_2025_1_venv: Path) -> None:
    """No metadata passed in: each side's own keystone generates it, the new side's
    oslo-config-validator checks the result, which is the golden translation."""
    host = LocalHost()
    new_root = tmp_path / "new"
    result = migrate_service_config(
        "keystone", "2024.1", "2025.1",
        old=Side(host, str(old_root), venv_bin=str(keystone_2024_1_venv)),
        new=Side(host, str(new_root), venv_bin=str(keystone_2025_1_venv)),
        host_map=HostMap({"old-ctl1.lab": "new-ctl1.lab"}, database="db-new.lab:3306"),
        metadata_dir=str(tmp_path / "meta"))
    assert [v.ok for v in result.validation] == [True]
    golden = DATA / "golden" / "keystone-2024.1-2025.1" / "expected" / "keystone.conf"
    assert (new_root / "etc/keystone/keystone.conf").read_bytes() == golden.read_bytes()


def test_without_the_old_metadata_gone_options_stop_the_step(
        old_root: Path, tmp_path: Path, keystone_2025_1_venv: Path) -> None:
    """Nothing tells sbs those options are gone: they are kept as unknown, and the
    new release's validator refuses them before prepare goes on."""
    with pytest.raises(VerificationError) as refused:
        migrate_service_config(
            "keystone", "2024.1", "2025.1", old=Side(LocalHost(), str(old_root)),
            new=Side(LocalHost(), str(tmp_path / "new"),
                     venv_bin=str(keystone_2025_1_venv)),
            metadata_dir=str(tmp_path / "meta"))
    for option in ("DEFAULT/use_eventlog", "DEFAULT/rpc_conn_pool_size",
                   "catalog/template_file", "oslo_messaging_amqp/idle_timeout"):
        assert f"{option} is not part of the sample config" in refused.value.message


def test_committed_metadata_is_what_the_release_generates(keystone_2025_1_venv: Path) -> None:
    from sidebyside.config.metadata import generate_metadata_text, service_spec

    text = generate_metadata_text(LocalHost(), str(keystone_2025_1_venv),
                                  service_spec("keystone").main_file.namespaces)
    committed = (DATA / "metadata" / "keystone-2025.1.yaml").read_text()
    assert text == committed, "the lab's keystone 2025.1 lock changed: run " \
                              "tests/data/config/regenerate.py and review the golden files"


def test_the_labs_keystone_and_glance_configs_move_to_the_new_root(
        tmp_path: Path, oslo_config_venv: Path) -> None:
    """The lab's own config files (rendered by sidebyside.lab) name paths under the
    old controller's root: they follow to the new root, and validate in 2025.1."""
    from sidebyside.lab import render
    from sidebyside.lab.layout import LabLayout

    layout = LabLayout(tmp_path / "lab")
    keystone_etc, glance_etc = layout.etc("old", "keystone"), layout.etc("old", "glance")
    (keystone_etc / "fernet-keys").mkdir(parents=True)
    (keystone_etc / "fernet-keys" / "0").write_bytes(os.urandom(32))
    (keystone_etc / "keystone.conf").write_text(render.keystone_conf(
        layout, "old", "2024.1", db_password="LabDbPass-1", custom=True))
    (keystone_etc / "policy.yaml").write_text(render.keystone_policy("old"))
    glance_etc.mkdir(parents=True)
    (glance_etc / "glance-api.conf").write_text(render.glance_conf(
        layout, "old", "2024.1", db_password="LabDbPass-2", service_password="LabSvc-3"))
    old_root, new_root = str(layout.root("old")), str(layout.root("new"))
    host = LocalHost()
    for service in ("keystone", "glance"):
        result = migrate_service_config(
            service, "2024.1", "2025.1", old=Side(host, old_root),
            new=Side(host, new_root, venv_bin=str(oslo_config_venv)),
            new_metadata=metadata(service, "2025.1"),
            old_metadata=metadata(service, "2024.1"),
            metadata_dir=str(tmp_path / "meta"))
        assert [v.ok for v in result.validation] == [True], result.validation
    keystone_conf = (layout.etc("new", "keystone") / "keystone.conf").read_text()
    glance_conf = (layout.etc("new", "glance") / "glance-api.conf").read_text()
    assert f"key_repository = {new_root}/etc/keystone/fernet-keys/" in keystone_conf
    assert old_root not in keystone_conf and old_root not in glance_conf
    assert f"{new_root}/var/lib/glance/staging/" in glance_conf
    assert (layout.etc("new", "keystone") / "policy.yaml").exists()
