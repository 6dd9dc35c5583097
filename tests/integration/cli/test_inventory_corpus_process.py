"""A few cases of the malformed-inventory corpus (tests/unit/test_inventory_corpus.py) run
as real `sbs` processes: the same refusal as in-process, through the console entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_inventory_corpus import (
    CASES,
    ENV_PASSWORD,
    PASSWORD_ENV,
    assert_refused,
    write_case,
)

REAL_PROCESS_CASES = ["duplicate-nested-key", "ssh-proxy-command", "password-file-missing",
                      "option-file-is-a-plain-password-file"]


@pytest.mark.parametrize("case_id", REAL_PROCESS_CASES)
def test_malformed_inventory_is_refused_by_the_real_sbs_process(case_id: str,
                                                                tmp_path: Path) -> None:
    _, mutation, field = next(c for c in CASES if c[0] == case_id)
    file = write_case(tmp_path, mutation)
    state = tmp_path / "state"
    command = ["plan", "prepare"] if len(case_id) % 2 else ["prepare", "--dry-run"]
    proc = subprocess.run([sys.executable, "-m", "sidebyside", *command, "-i", str(file),
                           "--state-dir", str(state)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL,
                          env={**os.environ, "COLUMNS": "400", PASSWORD_ENV: ENV_PASSWORD})
    assert_refused(proc.returncode, proc.stdout, proc.stderr, file, field, state)
