"""Pre-flight's compute check against a real nova database, 2025.1 -> 2026.1.

The old side's cell database is made by nova 2025.1's own `db sync`; its `services`
rows are those nova-compute registers (written here, no compute runs in this tier): one
compute of 2024.1 (version 66, which nova 2026.1 no longer accepts), one of 2025.1
(68), a deleted record of an old one, and a conductor. The inventory names the 2025.1
compute only. Pre-flight must block on the 2024.1 one twice (its version, and that it
would not follow the bus), pass the other, ignore the deleted row and the conductor,
and leave the old database as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sidebyside.inventory import load_inventory
from sidebyside.upgrade.preflight import run_preflight
from tests.integration.upgrade.conftest import (
    DbServer,
    make_inventory,
    run_tool,
    start_db_server,
    write_ini,
)

pytestmark = pytest.mark.integration

SERVICES_ROWS = [  # host, binary, version, deleted
    ("cmp-caracal", "nova-compute", 66, 0),
    ("cmp-epoxy", "nova-compute", 68, 0),
    ("cmp-retired", "nova-compute", 61, 1),
    ("ctl1", "nova-conductor", 68, 0),
]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DbServer, DbServer]]:
    """Servers of this module's own: the session's carry other tests' nova databases."""
    base = tmp_path_factory.mktemp("computes-db")
    old, new = start_db_server(base, "computes-old"), start_db_server(base, "computes-new")
    try:
        yield old, new
    finally:
        old.server.stop()
        new.server.stop()


@pytest.fixture(scope="module")
def old_side(servers: tuple[DbServer, DbServer], venv: Any,
             tmp_path_factory: pytest.TempPathFactory) -> Any:
    old_db, new_db = servers
    tmp = tmp_path_factory.mktemp("computes")
    nova_bin = str(venv("nova", "2025.1").bin)
    new_bin = str(venv("nova", "2026.1").bin)
    make_inventory(tmp, old_db, new_db, release=("2025.1", "2026.1"),
                   services={"nova": (nova_bin, new_bin)},
                   extra_hosts={"cmp-epoxy": {"address": "127.0.0.250", "transport": "local"}})
    old_db.create("nova_api", "nova", "nova_cell0")
    conf = write_ini(Path(tmp / "old-ctl1" / "etc" / "nova" / "nova.conf"), {
        "api_database": {"connection": old_db.url("nova_api")},
        "database": {"connection": old_db.url("nova")}})
    run_tool([f"{nova_bin}/nova-manage", "--config-file", str(conf), "db", "sync",
              "--local_cell"])
    for number, (host, binary, version, deleted) in enumerate(SERVICES_ROWS, start=1):
        old_db.execute(
            "INSERT INTO nova.services (id, created_at, host, `binary`, topic, "
            "report_count, disabled, deleted, version, uuid, forced_down) VALUES "
            "(%s, NOW(), %s, %s, %s, 1, 0, %s, %s, UUID(), 0)",
            (number, host, binary, binary.split("-", 1)[1], number if deleted else 0,
             version))
    # the inventory: its own broker a side (the bus moves), one compute declared
    data = yaml.safe_load((tmp / "inventory.yaml").read_text())
    data["old"]["broker"] = {"host": "old-ctl1", "vhost": "/old"}
    data["new"]["broker"] = {"host": "new-ctl1", "vhost": "/new"}
    data["computes"] = {"nodes": {"cmp-epoxy": {"services": {
        "nova-compute": {"stop": "true", "start": "true"}}}}}
    (tmp / "inventory.yaml").write_text(yaml.safe_dump(data))
    return load_inventory(tmp / "inventory.yaml", check_secrets=True), old_db


def test_preflight_blocks_a_compute_the_new_release_refuses(old_side: Any) -> None:
    inv, old_db = old_side
    before = old_db.checksum("nova")
    report = run_preflight(inv)
    found = {(r.subject, r.severity, r.message) for r in report.results
             if r.check == "computes"}
    by_host: dict[str, list[tuple[str, str]]] = {}
    for subject, severity, message in found:
        by_host.setdefault(subject, []).append((severity, message))

    assert set(by_host) == {"cmp-caracal", "cmp-epoxy"}  # no deleted row, no conductor
    assert [s for s, _ in by_host["cmp-epoxy"]] == ["ok"]
    caracal = sorted(by_host["cmp-caracal"])
    assert [s for s, _ in caracal] == ["blocker", "blocker"]
    messages = " | ".join(m for _, m in caracal)
    assert "version 66" in messages and "from 2025.1 (version 68) on" in messages
    assert "computes.nodes does not name" in messages
    assert {"computes"} <= {r.check for r in report.blockers}
    assert old_db.checksum("nova") == before  # pre-flight only reads
