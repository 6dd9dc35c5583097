"""The sides proof through the real executor on local hosts with roots of their own (as
the lab's controllers are) and two real MariaDB servers: two roots holding one
machine-id are refused before any other step, distinct ones pass and are recorded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sidebyside.actions.context import ActionContext
from sidebyside.actions.sides import PROOF_FACT, ProveSidesDistinct
from sidebyside.db.mariadb_server import MariaDBServer
from sidebyside.engine.executor import Executor
from sidebyside.engine.journal import Journal, RunStatus
from sidebyside.inventory import Inventory, parse_inventory
from sidebyside.lab.up import give_machine_id
from sidebyside.plan.model import Changes, Plan, Step
from sidebyside.remote.inventory_hosts import Hosts
from sidebyside.sides import SameMachineError
from tests.conftest import loopback_address, start_mariadb

pytestmark = pytest.mark.integration
CONTROLLER_ADDRESS = {"old": loopback_address(), "new": loopback_address()}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, MariaDBServer]]:
    root = tmp_path_factory.mktemp("sides")
    started = {}
    try:
        for side in ("old", "new"):  # each on a loopback address of its own
            started[side] = start_mariadb(root / side, name=side)
        yield started
    finally:
        for server in started.values():
            server.stop()


def inventory(servers: dict[str, MariaDBServer], roots: dict[str, Path]) -> Inventory:
    def side(name: str) -> dict[str, Any]:
        server = servers[name]
        return {"controllers": [f"{name}-ctl"], "cloud": f"lab-{name}",
                "database": {"host": server.host, "port": server.port, "user": "root",
                             "password_file": str(server.password_file)},
                "services": {"keystone": {"units": ["keystone"]}}}
    return parse_inventory({
        "environment": "sides", "release": {"from": "2025.1", "to": "2026.1"},
        "services": ["keystone"],
        "hosts": {"old-ctl": {"address": CONTROLLER_ADDRESS["old"], "transport": "local",
                              "root": str(roots["old"])},
                  "new-ctl": {"address": CONTROLLER_ADDRESS["new"], "transport": "local",
                              "root": str(roots["new"])}},
        "old": side("old"), "new": side("new"),
        "ha": {"haproxy": {"nodes": [{"host": "old-ctl"}], "backends": {
            "keystone": {"backend": "keystone", "old": ["a"], "new": ["b"]}}}},
    })


class Recorder:
    def __init__(self) -> None:
        self.ran: list[str] = []

    def run(self, step: Step, ctx: Any) -> dict[str, Any]:
        self.ran.append(step.id)
        return {}


def run(inv: Inventory, state: Path) -> tuple[Journal, Recorder]:
    plan = Plan(command="prepare", environment=inv.environment, steps=(
        Step(id="prepare.prove-sides", action="prove_sides_distinct", title="prove",
             changes=Changes.NOTHING, gate=True),
        Step(id="prepare.copy", action="copy", title="copy", changes=Changes.NEW_SIDE)))
    journal, recorder, hosts = Journal(state), Recorder(), Hosts(inv)
    try:
        prove = ProveSidesDistinct(ActionContext(inv, hosts, state))
        Executor(journal, {"prove_sides_distinct": prove, "copy": recorder}).execute(plan)
    finally:
        hosts.close()
    return journal, recorder


def test_two_roots_with_one_machine_id_are_refused_before_anything(
        servers: dict[str, MariaDBServer], tmp_path: Path) -> None:
    roots = {side: tmp_path / side for side in ("old", "new")}
    for root in roots.values():
        (root / "etc").mkdir(parents=True)
        (root / "etc" / "machine-id").write_text("5d41402abc4b2a76b9719d911017c592\n")
    inv = inventory(servers, roots)
    with pytest.raises(SameMachineError) as err:
        run(inv, tmp_path / "state")
    assert err.value.exit_code == 2
    assert "old.controllers[0] 'old-ctl' and new.controllers[0] 'new-ctl' are the same " \
           "machine (machine-id 5d41402a…)" in err.value.message
    journal = Journal(tmp_path / "state")
    last = journal.latest_run("prepare")
    assert last is not None and last.status == RunStatus.FAILED and last.rc == 2
    assert journal.fact(PROOF_FACT) is None


def test_roots_with_their_own_machine_ids_pass_and_the_proof_is_recorded(
        servers: dict[str, MariaDBServer], tmp_path: Path) -> None:
    roots = {side: tmp_path / side for side in ("old", "new")}
    for root in roots.values():
        give_machine_id(root)  # what `lab up` does for every controller
    ids = {side: (root / "etc" / "machine-id").read_text().strip()
           for side, root in roots.items()}
    assert ids["old"] != ids["new"]
    give_machine_id(roots["old"])  # kept across `lab up` runs
    assert (roots["old"] / "etc" / "machine-id").read_text().strip() == ids["old"]
    journal, recorder = run(inventory(servers, roots), tmp_path / "state")
    assert recorder.ran == ["prepare.copy"]
    proof = journal.fact(PROOF_FACT)
    assert proof["machines"] == {"old-ctl": f"machine-id {ids['old'][:8]}…",
                                 "new-ctl": f"machine-id {ids['new'][:8]}…"}
    assert proof["endpoints"] == [f"{servers['old'].host}:{servers['old'].port}",
                                  f"{servers['new'].host}:{servers['new'].port}"]
