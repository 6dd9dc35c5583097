"""`prove_sides_distinct`: the first step of prepare, cutover and rollback.

Before anything is written it proves, by identity, that every old controller is
another machine than every new one and that the old and new database servers are two
servers (prepare also: that the new side's RPC workers have a bus of their own). The
step is a gate (`Step.gate`): it runs on every invocation, resumes included, and its
refusal is the command's own error (exit 2, 3 or 8), not a failed step.
"""

from __future__ import annotations

from typing import Any

from sidebyside import db
from sidebyside.actions.context import ActionContext
from sidebyside.db.identity import require_distinct_servers
from sidebyside.engine.executor import StepContext
from sidebyside.errors import UnreachableError
from sidebyside.plan.model import Step
from sidebyside.sides import (
    MachineReader,
    require_distinct_controllers,
    require_own_bus,
    same_host_by_identity,
)

PROOF_FACT = "sides.proven"


class ProveSidesDistinct:
    def __init__(self, context: ActionContext) -> None:
        self.inventory = context.inventory
        self.hosts = context.hosts

    def _prove(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        reader = MachineReader(self.inventory, self.hosts)
        machines = require_distinct_controllers(self.inventory, reader)
        for name, shown in machines.items():
            ctx.log(f"{name}: {shown}")
        old_db, new_db = self._endpoints()
        old_id, new_id = require_distinct_servers(old_db, new_db)
        ctx.log(f"old.database is {old_id.describe()}, new.database is {new_id.describe()}")
        if step.params.get("bus"):
            require_own_bus(self.inventory, same_host=same_host_by_identity(reader))
        return {"machines": machines, "endpoints": [old_db.address, new_db.address],
                "databases": {"old": old_id.describe(), "new": new_id.describe()}}

    def _endpoints(self) -> tuple[db.DbEndpoint, db.DbEndpoint]:
        return (db.endpoint_from_inventory(self.inventory.old.database),
                db.endpoint_from_inventory(self.inventory.new.database))

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        """Raises SameMachineError / SameServerError (exit 2), SharedBusError or a
        PreflightError for hosts that cannot be compared (exit 3), UnreachableError (8).
        """
        try:
            proof = self._prove(step, ctx)
        except UnreachableError as exc:
            # Rollback must work with a dead new side: what an earlier run proved of
            # these very hosts and servers stands in for what cannot be read now.
            recorded = ctx.fact(PROOF_FACT)
            if not step.params.get("recorded_ok") or not self._covers(recorded):
                raise
            ctx.log(f"cannot read every identity now ({exc.message}); the sides were "
                    "proven distinct by an earlier run")
            return {**recorded, "recorded": True}
        ctx.set_fact(PROOF_FACT, proof)
        return proof

    def _covers(self, recorded: Any) -> bool:
        if not isinstance(recorded, dict):
            return False
        names = {*self.inventory.old.controllers, *self.inventory.new.controllers}
        old_db, new_db = self._endpoints()
        return names <= set(recorded.get("machines", {})) and \
            recorded.get("endpoints") == [old_db.address, new_db.address]
