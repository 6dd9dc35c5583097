"""`sbs config translate | diff` on the real metadata (typer's runner, no processes), and
the atomic, link-refusing writer its -o uses."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sidebyside.cli.config import app, write_atomically
from sidebyside.errors import InputError

DATA = Path(__file__).parent.parent / "data" / "config"
CASE = DATA / "golden" / "nova-2025.1-2026.1"
META = DATA / "metadata"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def translate_args(*extra: str) -> list[str]:
    return ["translate", "--service", "nova", "--from-release", "2025.1",
            "--to-release", "2026.1", "--metadata", str(META / "nova-2026.1.yaml"),
            "--old-metadata", str(META / "nova-2025.1.yaml"), *extra]


def test_translate_writes_files_and_report(tmp_path: Path) -> None:
    source = tmp_path / "nova.conf"
    shutil.copy(CASE / "nova.conf", source)
    source.chmod(0o640)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, translate_args(
        "--host-map", "old-ctl1.lab=new-ctl1.lab", "--host-map", "10.0.0.11=10.0.0.21",
        "--database", "10.0.0.30:13306", "--output", str(out), str(source)))
    assert result.exit_code == 0, result.output
    written = out / "nova.conf"
    assert written.read_bytes() == (CASE / "expected" / "nova.conf").read_bytes()
    assert written.stat().st_mode & 0o777 == 0o640
    report = json.loads((out / "report.json").read_text())
    assert report["files"][0]["summary"]["renamed"] == 3
    assert "[api] neutron_default_tenant_id" in result.output
    assert "RabbitPass-2025" not in result.output + (out / "report.json").read_text()


def test_translate_json_on_stdout(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, translate_args("--json", str(CASE / "nova.conf")))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    settings = {(s["section"], s["key"]): s for s in data["files"][0]["settings"]}
    assert settings[("cache", "memcache_socket_timeout")]["new_key"] == "socket_timeout"
    assert "-enabled_apis = osapi_compute,metadata" in data["files"][0]["diff"]
    assert "NovaDbPass-2025" not in result.output


def test_translate_needs_new_metadata_and_ordered_releases() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["translate", "--service", "nova", "--from-release",
                                 "2025.1", "--to-release", "2026.1", str(CASE / "nova.conf")])
    assert isinstance(result.exception, InputError)
    assert "metadata is needed" in result.exception.message
    result = runner.invoke(app, ["translate", "--service", "nova", "--from-release",
                                 "2026.1", "--to-release", "2025.1", str(CASE / "nova.conf")])
    assert isinstance(result.exception, InputError)


@pytest.mark.parametrize("as_json", [False, True])
def test_diff_lists_setting_changes_masked(as_json: bool) -> None:
    args = ["diff", str(CASE / "nova.conf"), str(CASE / "expected" / "nova.conf"),
            "--metadata", str(META / "nova-2026.1.yaml"), "--service", "nova"]
    result = CliRunner().invoke(app, args + (["--json"] if as_json else []))
    assert result.exit_code == 0, result.output
    assert "KeystonePass-2025" not in result.output and "NovaDbPass-2025" not in result.output
    if as_json:
        changes = {(c["section"], c["key"]): c for c in json.loads(result.output)["changes"]}
        assert changes[("api", "neutron_default_tenant_id")]["change"] == "removed"
        assert changes[("api", "neutron_default_project_id")]["change"] == "added"
        assert changes[("database", "connection")]["new"] == [
            "mysql+pymysql://nova:***@10.0.0.30:13306/nova"]
    else:
        assert "changed  [DEFAULT] my_ip: ['10.0.0.11'] -> ['10.0.0.21']" in result.output


def test_write_atomically_replaces_whole_with_the_mode_asked(tmp_path: Path) -> None:
    target = tmp_path / "nova.conf"
    target.write_text("old\n")
    os.link(target, tmp_path / "hardlink")  # an existing inode is not written in place
    write_atomically(target, b"new\n", mode=0o640)
    assert target.read_text() == "new\n" and mode(target) == 0o640
    assert (tmp_path / "hardlink").read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hardlink", "nova.conf"]


def test_write_atomically_refuses_a_symlink_and_leaves_no_temp(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    (tmp_path / "out").symlink_to(victim)
    with pytest.raises(InputError, match="symbolic link"):
        write_atomically(tmp_path / "out", b"x")
    assert victim.read_text() == "keep\n"
    with pytest.raises(InputError, match="cannot be written"):
        write_atomically(tmp_path / "missing-dir" / "f", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "victim"]


def test_horizon_settings_translate_without_oslo_metadata(tmp_path: Path) -> None:
    settings = Path(__file__).resolve().parents[1] / "data" / "config" / "horizon"
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "translate", "--service", "horizon", "--from-release", "2024.2",
        "--to-release", "2025.1", "--output", str(out), str(settings / "local_settings.py")])
    assert result.exit_code == 0, result.output
    written = (out / "local_settings.py").read_text()
    assert "\nUSE_L10N = True" not in written  # removed in 2025.1: commented out
    assert "USE_L10N" in written
