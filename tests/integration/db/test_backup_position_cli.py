"""Backups with restore test, positions for rollback, and the `sbs db` commands."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pymysql
import pytest
from typer.testing import CliRunner

from sidebyside.cli.db import app
from sidebyside.db import DbEndpoint, copy_databases, copy_is_verified
from sidebyside.db.backup import backup, restore_test
from sidebyside.db.mariadb_server import MariaDBServer
from sidebyside.db.position import changes_since, record_position
from sidebyside.errors import InputError, VerificationError
from tests.integration.db import tricky

pytestmark = pytest.mark.integration


def test_backup_restores_into_a_scratch_server_and_matches_its_manifest(
        source: DbEndpoint, tmp_path: Path) -> None:
    config = tmp_path / "keystone.conf"
    config.write_text("[database]\nconnection = mysql+pymysql://keystone:secret@db/keystone\n")
    dest = tmp_path / "backup"
    manifest = backup(source, list(tricky.DATABASES), dest, extra_files=[config])
    assert manifest["databases"] == list(tricky.DATABASES)
    assert manifest["tables"]["tricky.values_"]["rows"] == len(tricky.ROWS)
    kinds = sorted({f["kind"] for f in manifest["files"]})
    assert kinds == ["accounts", "data", "extra", "objects", "schema"]
    sums = (dest / "SHA256SUMS").read_text()
    assert "files/" in sums and "tricky/values_.txt.gz" in sums
    with pytest.raises(InputError):
        backup(source, ["tricky"], dest)  # not empty: refused

    report = restore_test(dest)
    assert report["equal"] and report["tables"] == len(manifest["tables"])
    assert report["rows"] == sum(t["rows"] for t in manifest["tables"].values())

    # a flipped byte inside a data file is caught by its hash
    data = dest / "tricky_api" / "old_style.txt.gz"
    raw = bytearray(data.read_bytes())
    raw[-20] ^= 0xFF
    data.write_bytes(bytes(raw))
    with pytest.raises(VerificationError) as caught:
        restore_test(dest)
    assert "old_style.txt.gz" in caught.value.message


def test_restore_test_catches_a_consistent_but_wrong_backup(source: DbEndpoint,
                                                            tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    backup(source, ["tricky_api"], dest)
    # rewrite a data file and its hashes: only the content check can notice
    data = dest / "tricky_api" / "old_style.txt.gz"
    lines = gzip.decompress(data.read_bytes()).split(b"\n")
    lines[5] = lines[5].replace(b"\t", b"\t9", 1)
    data.write_bytes(gzip.compress(b"\n".join(lines)))
    manifest = json.loads((dest / "manifest.json").read_text())
    from sidebyside.db.backup import _sha256

    for entry in manifest["files"]:
        entry["sha256"] = _sha256(dest / entry["path"])
    (dest / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(VerificationError) as caught:
        restore_test(dest)
    assert "tricky_api.old_style" in caught.value.message


def test_changes_since_a_recorded_position(source: DbEndpoint, target: DbEndpoint,
                                           tmp_path: Path) -> None:
    copy_databases(source, target, ["tricky_api", "tricky"], state_dir=tmp_path,
                   copy_users=False)
    position = record_position(target, ["tricky_api", "tricky"])
    json.dumps(position)
    assert position["tables"]["tricky_api.old_style"] == {
        "rows": 2000, "max_pk": 2000, "pk": "id",
        "checksum": position["tables"]["tricky_api.old_style"]["checksum"]}
    quiet = changes_since(target, position)
    assert quiet["changed"] is False and quiet["tables"] == {}
    connection = pymysql.connect(host=target.host, port=target.port, user="root",
                                 password=target.password, autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO tricky_api.old_style (id, note) VALUES (2001, 'new')")
        cursor.execute("UPDATE tricky.parents SET name = 'uno' WHERE id = 1")
        cursor.execute("CREATE TABLE tricky.brand_new (id INT PRIMARY KEY)")
    connection.close()
    changes = changes_since(target, position)
    assert changes["changed"] and changes["binlog_moved"] is True
    assert changes["tables"]["tricky_api.old_style"]["rows_added_after_max_pk"] == 1
    assert changes["tables"]["tricky.parents"]["content_changed"] is True
    assert changes["tables"]["tricky.brand_new"]["status"] == "created"
    assert "tricky.composite" not in changes["tables"]


def test_cli_copy_and_verify_with_password_files(source: DbEndpoint, target: DbEndpoint,
                                                 tmp_path: Path) -> None:
    source_pw, target_pw = tmp_path / "source.pw", tmp_path / "target.pw"
    source_pw.write_text(source.password + "\n")
    target_pw.write_text(target.password + "\n")
    runner = CliRunner()
    state = tmp_path / "state"
    result = runner.invoke(app, [
        "copy", "--from", source.url, "--to", target.url, "--databases", "tricky_api",
        "--from-password-file", str(source_pw), "--to-password-file", str(target_pw),
        "--state-dir", str(state), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "verified" and summary["rows"] == 2000
    assert source.password not in result.output
    assert copy_is_verified(state, ["tricky_api"])

    result = runner.invoke(app, [
        "verify", "--from", source.url, "--to", target.url, "--databases", "tricky_api",
        "--from-password-file", str(source_pw), "--to-password-file", str(target_pw),
        "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["equal"] is True

    # the rich progress path (no --json) on a second run: a verified copy resumes
    result = runner.invoke(app, [
        "copy", "--from", source.url, "--to", target.url, "--databases", "tricky_api",
        "--from-password-file", str(source_pw), "--to-password-file", str(target_pw),
        "--state-dir", str(state)])
    assert result.exit_code == 0, result.output
    assert "resumed" in result.stdout and "verified: True" in result.stdout

    result = runner.invoke(app, ["copy", "--from", source.url, "--to", target.url])
    assert isinstance(result.exception, InputError)
    assert "password" in result.exception.message


def test_mariadb_server_restarts_on_its_recorded_port(tmp_path: Path) -> None:
    server = MariaDBServer(tmp_path / "db", host="127.0.0.79")
    server.start()
    try:
        port, first_pid = server.port, server.pid
        assert server.is_running() and (tmp_path / "db" / "root.password").stat().st_mode \
            & 0o777 == 0o600
        server.stop()
        assert not server.is_running()
        server.stop()  # idempotent
        again = MariaDBServer(tmp_path / "db", host="127.0.0.79")
        again.start()
        assert again.port == port and again.pid != first_pid
        connection = again.connect()
        with connection.cursor() as cursor:
            cursor.execute("SELECT @@log_bin, @@bind_address")
            assert cursor.fetchone() == (1, "127.0.0.79")
        connection.close()
        again.stop()
    finally:
        server.stop()
