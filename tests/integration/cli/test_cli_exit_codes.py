"""The console entry point turns every way a command ends into the right exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.unit.test_inventory import base

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def sbs(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sidebyside", *args], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


def inventory_with_secrets(tmp_path: Path) -> Path:
    """minimal.yaml with its password file and variable pointing at real values."""
    password = tmp_path / "old.password"
    password.write_text("Secret-for-test-1\n")
    text = (EXAMPLES / "minimal.yaml").read_text().replace("/etc/sbs/old-db.password",
                                                             str(password))
    inventory = tmp_path / "sbs.yaml"
    inventory.write_text(text)
    return inventory


def test_success_is_zero_and_plan_prints_the_runbook(tmp_path):
    # plan reads every secret reference (never shows it): they must be there
    result = sbs("plan", "cutover", "-i", str(inventory_with_secrets(tmp_path)),
                 env={"SBS_NEW_DB_PASSWORD": "Secret-for-test-2"})
    assert result.returncode == 0, result.stderr
    assert "2. Count resources through the VIP" in result.stdout


def test_usage_error_is_two():
    assert sbs("plan", "--no-such-option").returncode == 2


def test_a_command_exiting_with_a_code_keeps_it(tmp_path):
    # `sbs lab status` of a lab that is not up exits with its own code, not 0
    result = sbs("lab", "service", "status", "--state-dir", str(tmp_path), "--side", "old",
                 "keystone")
    assert result.returncode != 0


def test_changing_command_without_terminal_or_yes_changes_nothing(tmp_path):
    result = sbs("prepare", "-i", str(inventory_with_secrets(tmp_path)), "--state-dir",
                 str(tmp_path / "state"), env={"SBS_NEW_DB_PASSWORD": "Secret-for-test-2"})
    assert result.returncode == 2, result.stderr
    assert "--yes" in result.stderr
    assert not (tmp_path / "state").exists()


def test_dry_run_prints_the_plan_and_changes_nothing(tmp_path):
    result = sbs("cutover", "--dry-run", "-i", str(inventory_with_secrets(tmp_path)),
                 "--state-dir", str(tmp_path / "state"),
                 env={"SBS_NEW_DB_PASSWORD": "Secret-for-test-2"})
    assert result.returncode == 0, result.stderr
    assert "dry run: nothing was changed" in result.stdout
    assert not (tmp_path / "state").exists()
    assert "Secret-for-test" not in result.stdout + result.stderr


def test_plan_and_dry_run_refuse_an_unreadable_password_file(tmp_path):
    # minimal.yaml names /etc/sbs/old-db.password, which this machine does not have
    state = tmp_path / "state"
    for args in (["plan", "prepare"], ["prepare", "--dry-run"], ["cutover", "--dry-run"]):
        result = sbs(*args, "-i", str(EXAMPLES / "minimal.yaml"), "--state-dir", str(state),
                     env={"SBS_NEW_DB_PASSWORD": "Secret-for-test-2"})
        assert result.returncode == 2, (args, result.stderr)
        assert "old.database.password_file" in result.stderr
        assert "Traceback" not in result.stderr
    assert not state.exists()


def test_cli_exit_code_2_and_no_state_written(tmp_path: Path) -> None:
    data = base()
    data["services"] = ["keystone", "swift"]
    file = tmp_path / "inv.yaml"
    file.write_text(yaml.safe_dump(data))
    state = tmp_path / "state"
    proc = subprocess.run([sys.executable, "-m", "sidebyside", "prepare", "-i", str(file),
                           "--state-dir", str(state), "--yes"],
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 2, proc.stderr
    assert "services" in proc.stderr and str(file) in proc.stderr
    assert not state.exists()
