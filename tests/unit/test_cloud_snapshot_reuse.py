"""A cutover re-run after the old side was stopped keeps the earlier run's snapshot,
unless that run was rolled back (then the VIP must answer for a new one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sidebyside.actions.cloud import SnapshotResourcesAction
from sidebyside.actions.context import ActionContext
from sidebyside.cloud.checks import SNAPSHOT_FACT, SNAPSHOT_META_FACT
from sidebyside.engine.executor import StepContext
from sidebyside.engine.journal import Journal, RunStatus
from sidebyside.errors import UnreachableError
from sidebyside.inventory import parse_inventory
from sidebyside.plan.model import Changes, Step
from tests.conftest import example_inventory

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STEP = Step(id="cutover.snapshot", action="snapshot_resources", title="snapshot",
            changes=Changes.LOCAL)


class DeadVip:
    """The VIP answers nothing: the old services were stopped by an earlier run."""

    def __init__(self, inventory) -> None:
        pass

    def __call__(self, side: str):
        raise UnreachableError("http://vip:5000/v3 does not answer")

    def close(self) -> None:
        pass


def no_host(name: str) -> Any:
    raise AssertionError(f"a snapshot reaches the cloud through its APIs, not host {name}")


def run_of(journal: Journal) -> int:
    return journal.start_run("cutover", "t", [STEP.to_dict()])


def test_earlier_unfinished_cutover_snapshot_is_reused(tmp_path: Path) -> None:
    inv = parse_inventory(example_inventory("minimal.yaml"))
    journal = Journal(tmp_path)
    first = run_of(journal)
    journal.set_fact(SNAPSHOT_FACT, {"projects": ["a", "b"]})
    journal.set_fact(SNAPSHOT_META_FACT, {"run_id": first})
    journal.finish_run(first, RunStatus.FAILED, 4, "final copy failed")
    second = run_of(journal)
    action = SnapshotResourcesAction(ActionContext(inv, no_host, tmp_path), clouds=DeadVip)
    result = action.run(STEP, StepContext(second, STEP, journal, {}))
    assert result == {"counts": {"projects": 2}, "reused_from_run": first}

    journal.finish_run(first, RunStatus.ROLLED_BACK, 0)
    with pytest.raises(UnreachableError):
        action.run(STEP, StepContext(run_of(journal), STEP, journal, {}))
