"""The compute nodes' steps. follow_bus: they follow the control plane to a side's bus
(cutover: to the new side, rollback: back to the old), one batch after the other (each
node: sidebyside/computes/follow.py). After the cutover, `sbs computes upgrade`:
require_new_serving, upgrade_computes (each node: sidebyside/computes/upgrade.py),
verify_computes; and rollback's require_computes_on_old_release."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

from sidebyside.actions.context import ActionContext
from sidebyside.actions.deploy import AnsiblePlan, automation_plan, run_ansible, run_command
from sidebyside.actions.service_control import control_argvs
from sidebyside.cloud.compute_services import (
    compute_services,
    hypervisor_names,
    resource_provider_ids,
    set_compute_enabled,
)
from sidebyside.cloud.verify import Clouds
from sidebyside.computes.follow import NodeMoved, move_configs, wait_registered
from sidebyside.computes.registry import registered_nova_services
from sidebyside.computes.upgrade import (
    ComputePicture,
    NodeEffects,
    compare_pictures,
    require_target_version,
    upgrade_node,
)
from sidebyside.config.migrate import bus_move_between
from sidebyside.db import server_facts
from sidebyside.deploy.model import sbs_vars
from sidebyside.engine.executor import StepContext
from sidebyside.engine.journal import RunStatus
from sidebyside.engine.per_host import fleet_key, run_on_hosts
from sidebyside.errors import PreflightError, StepFailed, VerificationError
from sidebyside.plan.model import Step
from sidebyside.services.catalog import service


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
            for service_name, control in node.services.items():
                for verb in ("stop", "start"):
                    for argv in control_argvs(control, verb, name):
                        result = host.run(argv, timeout=self.inventory.window.service_timeout)
                        ctx.log(f"{name}: {service_name} {verb} -> {result.returncode}")
                done.restarted.append(service_name)
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


# ---- after the cutover: the rolling upgrade of the compute nodes -------------------

UPGRADING_FACT = "computes:upgrading:"  # + node: {"run", "release"}, set before it starts


def cutover_in_force(journal: Any) -> Any:
    """The cutover run that put the new control plane in service and has not been
    rolled back, or None."""
    cutover = journal.latest_run("cutover")
    return cutover if cutover is not None and cutover.status == RunStatus.DONE else None


def nodes_upgraded_since(journal: Any, run_id: int) -> dict[str, str]:
    """node -> release of every compute node `sbs computes upgrade` began to upgrade in a
    run after `run_id` (the cutover's): begun is enough, a node killed half-way may run
    the new release already."""
    return {key[len(UPGRADING_FACT):]: str(value.get("release"))
            for key, (value, _at) in journal.facts_under(UPGRADING_FACT).items()
            if isinstance(value, dict) and int(value.get("run", 0)) > run_id}


def _picture(conn: Any) -> ComputePicture:
    return ComputePicture(services=compute_services(conn),
                          hypervisors=tuple(hypervisor_names(conn)),
                          resource_providers=tuple(resource_provider_ids(conn)))


def new_side_nova_services(inventory: Any, binaries: list[str] | None = None) -> list[Any]:
    """The nova services the new side's cell databases register (read only)."""
    nova = service("nova")
    with server_facts.probe_session(inventory.new.database, "new.database") as conn:
        existing = server_facts.existing_databases(conn)
        return registered_nova_services(conn, [d for d in nova.databases if d in existing],
                                        binaries)


def picture_fact(run_id: int) -> str:
    return f"computes-upgrade:{run_id}:before"


class RequireNewServingAction:
    """`require_new_serving` (a gate): the cutover is done and not rolled back, so the
    new control plane serves. With `record_picture`, what it shows of the compute nodes
    is kept for this run's last verification (once per run: a resumed run keeps the
    picture from before its first node)."""

    def __init__(self, context: ActionContext, *, clouds: Any = Clouds) -> None:
        self.inventory = context.inventory
        self._clouds = clouds

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        cutover = cutover_in_force(ctx.journal)
        if cutover is None:
            latest = ctx.journal.latest_run("cutover")
            state = ("no cutover has run" if latest is None else
                     f"the last cutover (run {latest.id}) is {latest.status.value}")
            raise PreflightError(f"the new control plane is not in service: {state}",
                                 hint="run `sbs cutover` first (see `sbs status`)")
        result: dict[str, Any] = {"cutover_run": cutover.id}
        if step.params.get("record_picture") and ctx.fact(picture_fact(ctx.run_id)) is None:
            clouds = self._clouds(self.inventory)
            try:
                picture = _picture(clouds("new"))
            finally:
                clouds.close()
            ctx.set_fact(picture_fact(ctx.run_id), picture.to_dict())
            ctx.log(f"before: {len(picture.services)} compute service(s), "
                    f"{len(picture.hypervisors)} hypervisor(s), "
                    f"{len(picture.resource_providers)} resource provider(s)")
        return result


class UpgradeComputesAction:
    """`upgrade_computes`: every compute node upgraded in place, `batch_size` at a time
    (option `batch_size`, else computes.batch_size), each by sidebyside/computes/
    upgrade.py with the operator's automation (computes.upgrade). A node done is
    journaled at once and not done again on resume; the first batch with a failed node
    ends the step before the next batch starts."""

    def __init__(self, context: ActionContext, *, python: str | None = None) -> None:
        self.inventory = context.inventory
        self.hosts = context.hosts
        self.private_dir = Path(context.state_dir) / "computes" / "ansible"
        self.python = python or sys.executable

    def _automation(self, step: Step, ctx: StepContext, name: str) -> dict[str, Any]:
        computes = self.inventory.computes
        assert computes is not None and computes.upgrade is not None
        upgrade = computes.upgrade
        provided = {**sbs_vars(self.inventory, python=self.python),
                    "sbs_compute_node": name,
                    "sbs_compute_root": self.inventory.hosts[name].root,
                    "sbs_compute_nova_host": computes.nova_host(name)}
        configured = upgrade.ansible.limit if upgrade.ansible else None
        plan = automation_plan(upgrade, self.inventory.source, provided,
                               limit=f"{configured}:&{name}" if configured else name,
                               timeout=upgrade.timeout,
                               ident=f"{step.id}-{name}-run{ctx.run_id}-{int(time.time())}")
        log = lambda line: ctx.log(f"{name}: {line}")  # noqa: E731
        if isinstance(plan, AnsiblePlan):
            return run_ansible(step.id, log, plan, self.private_dir, what="computes.upgrade")
        return run_command(step.id, log, plan, what="computes.upgrade")

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        computes = self.inventory.computes
        assert computes is not None and computes.upgrade is not None  # the plan checked
        release = self.inventory.release.to
        nova = service("nova")
        target = require_target_version(nova.compute_versions, release)
        size = int(ctx.options.get("batch_size") or computes.batch_size)
        clouds = Clouds(self.inventory)
        api = threading.Lock()  # one connection, nodes of a batch in threads

        def on_node(name: str) -> dict[str, Any]:
            host, node = self.hosts(name), computes.nodes[name]
            nova_host = computes.nova_host(name)

            def control(verb: str) -> list[str]:
                for service_name, how in node.services.items():
                    for argv in control_argvs(how, verb, name):
                        result = host.run(argv, timeout=self.inventory.window.service_timeout)
                        ctx.log(f"{name}: {service_name} {verb} -> {result.returncode}")
                        if result.returncode != 0:
                            raise StepFailed(step.id, f"{name}: {service_name} {verb} exited "
                                             f"{result.returncode}")
                return list(node.services)

            def on_api(call: Any) -> Any:
                with api:
                    return call(clouds("new"))

            def version() -> int | None:
                found = [c.version for c in new_side_nova_services(self.inventory,
                                                               ["nova-compute"])
                         if c.host == nova_host]
                return max(found) if found else None

            effects = NodeEffects(
                disable=lambda reason: on_api(lambda c: set_compute_enabled(
                    c, nova_host, enabled=False, reason=reason)),
                stop=lambda: control("stop"),
                heartbeat=lambda: on_api(lambda c: compute_services(c).get(nova_host)),
                upgrade=lambda: self._automation(step, ctx, name),
                start=lambda: control("start"),
                version=version,
                enable=lambda: on_api(lambda c: set_compute_enabled(c, nova_host,
                                                                    enabled=True)))
            return upgrade_node(name, effects, release=release, target_version=target,
                                timeout=computes.register_timeout, log=ctx.log).to_dict()

        results: dict[str, Any] = {}
        try:
            for batch in batches(list(computes.nodes), size):
                for name in batch:  # in this thread: the journal is not shared
                    if ctx.fact(fleet_key(ctx.run_id, step.id, name)) is None:
                        ctx.set_fact(UPGRADING_FACT + name,
                                     {"run": ctx.run_id, "release": release})
                results |= run_on_hosts(ctx, batch, on_node, max_parallel=len(batch))
        finally:
            clouds.close()
        return {"release": release, "batch_size": size,
                "nodes": [results[n] for n in computes.nodes if n in results]}


class VerifyComputesAction:
    """`verify_computes`: after the rolling upgrade, through the VIP (else the new
    controller): every compute service up and enabled, the hypervisors and resource
    providers those before the first node, and every nova-compute the new side
    registers at the new release's service version."""

    def __init__(self, context: ActionContext, *, clouds: Any = Clouds) -> None:
        self.inventory = context.inventory
        self._clouds = clouds

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        release = self.inventory.release.to
        nova = service("nova")
        target = require_target_version(nova.compute_versions, release)
        recorded = ctx.fact(picture_fact(ctx.run_id))
        if not isinstance(recorded, dict):
            raise VerificationError("no picture of the compute nodes from before this run's "
                                    "first node (the gate records it)")
        clouds = self._clouds(self.inventory)
        try:
            after = _picture(clouds("vip" if self.inventory.ha.vip_cloud else "new"))
        finally:
            clouds.close()
        problems = compare_pictures(ComputePicture.from_dict(recorded), after,
                                    new_side_nova_services(self.inventory, ["nova-compute"]),
                                    release=release, target_version=target,
                                    versions=nova.compute_versions)
        for problem in problems:
            ctx.log(f"FAIL {problem}")
        if problems:
            raise VerificationError("after the compute upgrade: " + "; ".join(problems))
        ctx.log(f"{len(after.services)} compute service(s) up and enabled at {release}; "
                f"{len(after.hypervisors)} hypervisor(s) and "
                f"{len(after.resource_providers)} resource provider(s) as before")
        return after.to_dict()


class RequireComputesOnOldReleaseAction:
    """`require_computes_on_old_release` (rollback's gate): the old control plane can
    take the compute nodes back only while they still run the release it knows; once
    `sbs computes upgrade` began on one, rollback refuses, naming them."""

    def __init__(self, context: ActionContext) -> None:
        self.inventory = context.inventory

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        cutover = ctx.journal.latest_run("cutover")
        upgraded = nodes_upgraded_since(ctx.journal, cutover.id if cutover else 0)
        if upgraded:
            listed = ", ".join(f"{node} ({release})" for node, release in sorted(
                upgraded.items()))
            raise PreflightError(
                f"compute nodes were upgraded after the cutover: {listed}; the old control "
                f"plane ({self.inventory.release.from_}) does not manage computes newer "
                "than itself, so rolling the controllers back would strand them",
                hint="fix forward on the new control plane; a rollback now needs those "
                     "nodes downgraded first (by your automation)")
        return {"upgraded_since_cutover": []}
