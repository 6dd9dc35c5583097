"""follow_bus: the compute nodes follow the control plane to a side's bus (cutover: to
the new side, rollback: back to the old), one batch after the other; the procedure of
each node is sidebyside/computes/follow.py."""

from __future__ import annotations

from typing import Any

from sidebyside.actions.context import ActionContext
from sidebyside.actions.service_control import control_argvs
from sidebyside.cloud.compute_services import compute_services
from sidebyside.cloud.verify import Clouds
from sidebyside.computes.follow import NodeMoved, move_configs, wait_registered
from sidebyside.config.migrate import bus_move_between
from sidebyside.engine.executor import StepContext
from sidebyside.engine.per_host import run_on_hosts
from sidebyside.plan.model import Step


def batches(names: list[str], size: int) -> list[list[str]]:
    """`names` in order, `size` at a time. Pure."""
    return [names[i:i + size] for i in range(0, len(names), size)]


class FollowBusAction:
    """`follow_bus` (params: `to`, the side whose bus and control plane they join)."""

    def __init__(self, context: ActionContext) -> None:
        self.inventory = context.inventory
        self.hosts = context.hosts

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        computes = self.inventory.computes
        assert computes is not None  # the plan has this step only with computes
        target = step.params["to"]
        source = "old" if target == "new" else "new"
        bus = bus_move_between(self.inventory, source, target)
        if bus is None:
            ctx.log("both sides use one bus: the compute nodes have nothing to follow")
            return {"to": target, "nodes": []}
        clouds = Clouds(self.inventory)
        timeout = computes.register_timeout

        def registration(nova_host: str) -> Any:
            return compute_services(clouds(target)).get(nova_host)

        def on_node(name: str) -> dict[str, Any]:
            node, host = computes.nodes[name], self.hosts(name)
            nova_host = computes.nova_host(name)
            try:
                seen = registration(nova_host)
            except Exception:  # noqa: BLE001 - an API not answering yet: no heartbeat known
                seen = None
            before = seen.updated_at if seen else None
            done = NodeMoved(node=name)
            done.moved = move_configs(host, self.inventory.hosts[name].root, node.configs,
                                      bus, keep_original=target == "new")
            for line in done.moved:
                ctx.log(f"{name}: {line}: {bus.old_vhost} -> {bus.new_vhost}")
            for service, control in node.services.items():
                for verb in ("stop", "start"):
                    for argv in control_argvs(control, verb, name):
                        result = host.run(argv, timeout=self.inventory.window.service_timeout)
                        ctx.log(f"{name}: {service} {verb} -> {result.returncode}")
                done.restarted.append(service)
            registered = wait_registered(lambda: registration(nova_host), before,
                                         node=name, timeout=timeout)
            done.heartbeat = registered.updated_at
            ctx.log(f"{name}: nova-compute {nova_host} up on the {target} control plane "
                    f"(heartbeat {registered.updated_at})")
            return done.to_dict()

        results: dict[str, Any] = {}
        try:
            for batch in batches(list(computes.nodes), computes.batch_size):
                results |= run_on_hosts(ctx, batch, on_node, max_parallel=len(batch))
        finally:
            clouds.close()
        return {"to": target, "nodes": [results[n] for n in computes.nodes if n in results]}
