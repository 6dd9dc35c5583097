"""Plans are data: an ordered list of steps, built without any I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Changes(StrEnum):
    """What a step may change; the old side's data is never on this list."""

    NOTHING = "nothing"
    LOCAL = "local state (backups, journal)"
    NEW_SIDE = "new controllers and new database"
    OLD_SERVICES = "old services (stop/start only)"
    TRAFFIC = "traffic routing (HAProxy/keepalived)"
    COMPUTES = "compute nodes (bus settings, restarts)"


# Traffic steps that hold the old side's traffic back without sending it anywhere else.
_MOVES_NO_TRAFFIC = ("drain", "freeze_writes")


@dataclass(frozen=True)
class Step:
    id: str
    action: str
    title: str
    changes: Changes
    rerunnable: bool = True
    service: str | None = None
    hosts: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict, hash=False)
    # A gate proves the run may go on before anything changes: it runs on every
    # invocation (a resume too), and its refusal is the command's own error and exit
    # code (bad input 2, pre-flight 3, unreachable 8), not a failed step to resume.
    gate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "action": self.action, "title": self.title,
            "changes": self.changes.value, "rerunnable": self.rerunnable,
            "service": self.service, "hosts": list(self.hosts),
            "params": self.params, "gate": self.gate,
        }


@dataclass(frozen=True)
class Plan:
    command: str
    environment: str
    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        ids = [s.id for s in self.steps]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"duplicate step ids in plan: {sorted(dupes)}")

    def automatic_rollback_from(self) -> int | None:
        """Index of the step from which a failed run rolls back by itself: a cutover's
        first step that moves traffic to the other side. A cutover failing there or later
        runs the rollback plan (engine/guarded_run.py); before it, the operator resumes
        or rolls back. None for prepare and rollback, and a plan moving no traffic."""
        if self.command != "cutover":
            return None
        for index, step in enumerate(self.steps):
            # A drain or a write freeze moves no traffic to the other side.
            if step.changes == Changes.TRAFFIC and step.action not in _MOVES_NO_TRAFFIC:
                return index
        return None

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.command, "environment": self.environment,
                "steps": [s.to_dict() for s in self.steps]}
