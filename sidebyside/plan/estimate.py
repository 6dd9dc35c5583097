"""How long the cutover will take, from the timings prepare recorded. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sidebyside.inventory import Inventory
from sidebyside.plan.model import Plan, Step

# A cutover step repeats work prepare already timed under another id.
_PREPARE_EQUIVALENT = {
    "cutover.final-copy": "prepare.copy-databases",
}
_DEFAULT_SECONDS = {  # steps that cost about the same everywhere
    "snapshot_resources": 5.0, "record_position": 2.0, "switch_traffic": 1.0,
    "move_vip": 5.0, "verify_vip": 10.0, "stop_service": 5.0, "start_service": 10.0,
    "freeze_writes": 2.0, "thaw_writes": 1.0, "verify_old_untouched": 2.0,
    "open_token_issue": 1.0,
}


@dataclass(frozen=True)
class StepEstimate:
    seconds: float
    source: str  # "recorded", "prepare", "drain timeout", "default", "unknown"


@dataclass(frozen=True)
class WindowEstimate:
    steps: dict[str, StepEstimate]
    downtime: float             # writes refused or failing (the SLA's measure)
    max_downtime: float
    unknown: tuple[str, ...]
    read_downtime: float = 0.0  # reads failing for at least one service

    @property
    def verdict(self) -> str:
        if self.unknown:
            return "UNKNOWN"
        return "GO" if self.downtime <= self.max_downtime else "NO-GO"

    def summary(self) -> str:
        def fmt(s: float) -> str:
            return f"{int(s // 60)}m{int(s % 60):02d}s"
        text = (f"Estimated downtime {fmt(self.downtime)} (reads: "
                f"{fmt(self.read_downtime)}) against a window of "
                f"{fmt(self.max_downtime)}: {self.verdict}")
        if self.unknown:
            text += (f" ({len(self.unknown)} steps have no recorded timing yet: run "
                     f"`sbs prepare` first; e.g. {', '.join(self.unknown[:3])})")
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"downtime_seconds": round(self.downtime, 1),
                "read_downtime_seconds": round(self.read_downtime, 1),
                "max_downtime_seconds": self.max_downtime, "verdict": self.verdict,
                "unknown_steps": list(self.unknown),
                "steps": {k: {"seconds": round(v.seconds, 1), "source": v.source}
                          for k, v in self.steps.items()}}


def _equivalent(step_id: str) -> str | None:
    if step_id in _PREPARE_EQUIVALENT:
        return _PREPARE_EQUIVALENT[step_id]
    if step_id.startswith("cutover."):
        return "prepare." + step_id.removeprefix("cutover.")
    return None


def _estimate_step(step: Step, inv: Inventory, recorded: dict[str, float]) -> StepEstimate:
    if step.id in recorded:
        return StepEstimate(recorded[step.id], "recorded")
    equivalent = _equivalent(step.id)
    if equivalent and equivalent in recorded:
        return StepEstimate(recorded[equivalent], "prepare")
    together = [f"{equivalent}.{svc}" for svc in step.params.get("services", ())]
    if equivalent and together and all(each in recorded for each in together):
        # services started together take as long as the slowest did alone
        return StepEstimate(max(recorded[each] for each in together), "prepare")
    if step.action == "drain":
        # Bounded by the very settings the run waits with (inventory window): sessions
        # to finish, then the service's queues to empty when sbs watches the broker.
        if inv.old.broker is not None:
            return StepEstimate(inv.window.drain_timeout + inv.window.queue_timeout,
                                "drain timeout")
        return StepEstimate(inv.window.drain_timeout, "drain timeout")
    if step.action == "follow_bus" and inv.computes is not None:
        # Bounded by what the run waits for: each batch until its nodes report.
        batches = -(-len(inv.computes.nodes) // inv.computes.batch_size)
        return StepEstimate(batches * inv.computes.register_timeout, "register timeout")
    if step.action == "move_vip":
        return StepEstimate(min(_DEFAULT_SECONDS["move_vip"], inv.window.vip_timeout),
                            "default")
    if step.action in _DEFAULT_SECONDS:
        return StepEstimate(_DEFAULT_SECONDS[step.action], "default")
    return StepEstimate(0.0, "unknown")


def estimate_window(plan: Plan, inv: Inventory, recorded: dict[str, float]) -> WindowEstimate:
    """Per-step estimates and the downtimes.

    Writes: from the first write freeze (the read-only window) or else the first old
    service stopped, to the thaw or else the end of verification through the VIP (a
    drain still serves requests, so it counts only inside a read-only window). Reads:
    from the first old service stopped before the switch to the last switch; with a
    read-only window whose services all keep serving reads, none.
    """
    steps = {s.id: _estimate_step(s, inv, recorded) for s in plan.steps}
    frozen = any(s.action == "freeze_writes" for s in plan.steps)
    downtime = 0.0
    in_window = False
    for step in plan.steps:
        if step.action == ("freeze_writes" if frozen else "stop_service"):
            in_window = True
        if in_window and (frozen or step.action != "drain"):
            downtime += steps[step.id].seconds
        if step.action == "thaw_writes":
            break
    read_downtime = downtime
    if frozen:
        ids = [s.id for s in plan.steps]
        switches = [i for i, s in enumerate(plan.steps) if s.action == "switch_traffic"]
        stops = [i for i, s in enumerate(plan.steps)
                 if s.action == "stop_service" and s.params.get("side") == "old"
                 and switches and i < switches[-1]]
        read_downtime = sum(steps[ids[i]].seconds for i in range(stops[0], switches[-1] + 1)
                            ) if stops else 0.0
    unknown = tuple(k for k, v in steps.items() if v.source == "unknown")
    return WindowEstimate(steps=steps, downtime=downtime,
                          max_downtime=inv.window.max_downtime, unknown=unknown,
                          read_downtime=read_downtime)
