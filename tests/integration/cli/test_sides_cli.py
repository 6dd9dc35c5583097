"""`sbs plan prepare` and `sbs prepare --dry-run` refuse a new side whose RPC workers
would start on the old side's broker and vhost: exit 3, naming the fields, nothing
changed, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import example_inventory

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def sbs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sidebyside", *args], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, "COLUMNS": "1000",
                               "SBS_NEW_DB_PASSWORD": "Secret-for-test-2"})


def inventory(tmp_path: Path, new_broker: dict[str, Any] | None) -> Path:
    """minimal.yaml with nova (conductor, scheduler) and the old side's broker."""
    password = tmp_path / "old.password"
    password.write_text("Secret-for-test-1\n")
    data = example_inventory("minimal.yaml")
    data["old"]["database"]["password_file"] = str(password)
    data["services"].append("nova")
    data["hosts"]["rabbit1"] = {"address": "10.0.0.21"}
    data["old"]["broker"] = {"host": "rabbit1", "vhost": "/"}
    if new_broker is not None:
        data["new"]["broker"] = new_broker
    for side in ("old", "new"):
        data[side]["services"]["nova"] = {"units": ["nova-conductor", "nova-scheduler"]}
    data["ha"]["haproxy"]["backends"]["nova"] = {"backend": "nova_api", "old": ["old-ctl1"],
                                                 "new": ["new-ctl1"]}
    path = tmp_path / "sbs.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("new_broker", [None, {"host": "rabbit1", "vhost": "/"}])
def test_plan_and_dry_run_refuse_the_old_sides_bus_with_exit_3(
        tmp_path: Path, new_broker: dict[str, Any] | None) -> None:
    path, state = inventory(tmp_path, new_broker), tmp_path / "state"
    for args in (["plan", "prepare"], ["prepare", "--dry-run"]):
        result = sbs(*args, "-i", str(path), "--state-dir", str(state))
        assert result.returncode == 3, (args, result.stdout, result.stderr)
        assert "old.broker.host 'rabbit1'" in result.stderr
        assert ("new.broker is not given" if new_broker is None
                else "new.broker.host 'rabbit1', new.broker.vhost '/'") in result.stderr
        assert "nova-conductor" in result.stderr
        assert "Traceback" not in result.stderr
        assert "Secret-for-test" not in result.stdout + result.stderr
    assert not state.exists()


def test_a_vhost_of_its_own_plans(tmp_path: Path) -> None:
    path = inventory(tmp_path, {"host": "rabbit1", "vhost": "/new-cloud"})
    result = sbs("prepare", "--dry-run", "-i", str(path), "--state-dir",
                 str(tmp_path / "state"))
    assert result.returncode == 0, result.stderr
    assert "1. Prove old and new are different machines" in result.stdout
