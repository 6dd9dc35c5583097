"""The sbs process's umask, and `config translate -o` refusing a link at an output file
(the real entry point in a child process)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from tests.unit.test_config_cli import CASE, translate_args

ROOT = Path(__file__).resolve().parents[3]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def sbs(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real entry point in a child started with the permissive umask 022."""
    return subprocess.run([sys.executable, "-m", "sidebyside", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)},
                          preexec_fn=lambda: os.umask(0o022))


def test_the_entry_point_sets_umask_077_before_anything_is_written(tmp_path: Path) -> None:
    source = tmp_path / "nova.conf"
    shutil.copy(CASE / "nova.conf", source)
    result = sbs("config", *translate_args("--output", str(tmp_path / "out"), str(source)),
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert mode(tmp_path / "out") == 0o700       # made by mkdir under the umask
    assert mode(tmp_path / "out" / "report.json") == 0o600
    probe = subprocess.run(
        [sys.executable, "-c", "import os, sys\nfrom sidebyside.cli import main\n"
         "sys.argv = ['sbs', '--version']\ntry:\n    main.run()\nexcept SystemExit:\n"
         "    pass\nprint(oct(os.umask(0)))"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, preexec_fn=lambda: os.umask(0o022))
    assert probe.stdout.split()[-1] == "0o77"


def test_translate_refuses_a_symlink_at_an_output_file(tmp_path: Path) -> None:
    source = tmp_path / "nova.conf"
    shutil.copy(CASE / "nova.conf", source)
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    (out / "report.json").symlink_to(victim)
    result = sbs("config", *translate_args("--output", str(out), str(source)), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "report.json: is a symbolic link" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert victim.read_text() == "keep me\n"
    assert not (out / "nova.conf").exists()       # nothing written: checked up front
    assert (out / "report.json").is_symlink()
