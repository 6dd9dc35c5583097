"""The rendered haproxy.cfg files pass `haproxy -c` without a rule that can never match
(a write-freeze rule in a frontend section, where be_name means nothing, is accepted
with only a warning and silently lets every write through)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sidebyside.lab import render
from sidebyside.lab.layout import TOPOLOGIES, LabLayout

pytestmark = pytest.mark.integration


def haproxy_check(cfg: Path) -> str:
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed")
    done = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.mark.parametrize("topology", sorted(TOPOLOGIES))
def test_lab_haproxy_cfg_has_effective_write_freeze_rules(tmp_path: Path,
                                                          topology: str) -> None:
    layout = LabLayout(tmp_path, TOPOLOGIES[topology])
    for node in layout.topology.balancers:
        layout.balancer_root(node).mkdir(parents=True, exist_ok=True)
        layout.haproxy_write_freeze_map_of(node).touch()
        layout.haproxy_state_file_of(node).touch()
        cfg = layout.haproxy_cfg_of(node)
        text = render.haproxy_cfg(layout, ("keystone", "glance", "nova"), node)
        cfg.write_text(text)
        output = haproxy_check(cfg)
        assert "never match" not in output, output
        # one freeze rule per backend, inside the backend section
        for section in text.split("\nbackend ")[1:]:
            assert "write-freeze" in section or "sbs_write" in section
        for section in text.split("\nfrontend ")[1:]:
            assert "sbs_write" not in section.split("\nbackend ")[0]
