"""The private file update_cell reads its URLs from, read by nova's own oslo.config:
every URL comes back exactly as planned, the later --config-file winning over nova.conf
(`$`, quotes, `#`, `;` and spaces in a password included)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from sidebyside.lab.venvs import Venv
from sidebyside.upgrade.cells import CELL0_UUID, CellUpdate, cell_config_text

pytestmark = pytest.mark.integration

READ_BACK = """
import json, sys
from oslo_config import cfg
conf = cfg.ConfigOpts()
conf.register_opt(cfg.StrOpt("transport_url"))
conf.register_opt(cfg.StrOpt("connection"), group="database")
conf(["--config-file", sys.argv[1], "--config-file", sys.argv[2]], project="nova")
print(json.dumps([conf.database.connection, conf.transport_url]))
"""

PASSWORDS = ["plain", "a$b", "$$x", "q\"uo'te", " lead and trail ", "h#sh;semi", "${name}x"]


@pytest.mark.parametrize("password", PASSWORDS)
def test_nova_reads_back_exactly_the_planned_urls(
        tmp_path: Path, venv: Callable[[str, str], Venv], password: str) -> None:
    nova = venv("nova", "2025.1")
    database = f"mysql+pymysql://nova:{password}@127.0.0.12:13306/nova?charset=utf8"
    transport = f"rabbit://openstack:{password}@127.0.2.12:5672/"
    nova_conf = tmp_path / "nova.conf"
    nova_conf.write_text("[DEFAULT]\ntransport_url = rabbit://old:old@old:5672/\n"
                         "[database]\nconnection = mysql+pymysql://old:old@old/nova\n")
    private = tmp_path / "cell.conf"
    for update, expected in [
            (CellUpdate("u1", "cell1", database, transport, ()), [database, transport]),
            # cell0: no broker in the file, nova.conf's stays (argv carries none:///)
            (CellUpdate(CELL0_UUID, "cell0", database, "none:///", ()),
             [database, "rabbit://old:old@old:5672/"])]:
        private.write_text(cell_config_text(update))
        read = subprocess.run([str(nova.bin / "python"), "-c", READ_BACK, str(nova_conf),
                               str(private)], capture_output=True, text=True, timeout=120)
        assert read.returncode == 0, read.stderr
        assert json.loads(read.stdout) == expected
