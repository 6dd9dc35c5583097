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


@dataclass(frozen=True)
class Step:
    id: str
    action: str
    title: str
    changes: Changes
    rerunnable: bool = True
    service: str | None = None
    hosts: tuple[str, ...] = ()
    undo: str | None = None
    params: dict[str, Any] = field(default_factory=dict, hash=False)
    # A gate proves the run may go on before anything changes: it runs on every
    # invocation (a resume too), and its refusal is the command's own error and exit
    # code (bad input 2, pre-flight 3, unreachable 8), not a failed step to resume.
    gate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "action": self.action, "title": self.title,
            "changes": self.changes.value, "rerunnable": self.rerunnable,
            "service": self.service, "hosts": list(self.hosts), "undo": self.undo,
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

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.command, "environment": self.environment,
                "steps": [s.to_dict() for s in self.steps]}
