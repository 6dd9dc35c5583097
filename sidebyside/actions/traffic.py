"""The traffic steps of the cutover and rollback plans, bound to an inventory.

  drain           old servers of a service -> drain, wait for their sessions, then
                  for the service's RabbitMQ queues (when `old.broker` is given)
  switch_traffic  params.to = new|old: the switch of one service's backend
  move_vip        params.to = new|old (params.method = track_file|stop)
  freeze_writes   the read-only window: HAProxy refuses the service's writes (503), the
                  old servers keep answering reads; waits for the requests in flight
                  and the service's queues
  open_token_issue  keystone's logins through again, other writes still refused (so
                  verification through the VIP can log in)
  thaw_writes     params.services: writes accepted again (after the switch and its
                  verification, or on rollback)

Every wait is bounded by the inventory's `window` (drain_timeout, queue_timeout,
vip_timeout; the same values `sbs plan` estimates with); a run option of the same name
(`ctx.options`, seconds) overrides one, for tests.
"""

from __future__ import annotations

from typing import Any, Literal

from sidebyside.actions.context import ActionContext
from sidebyside.engine.executor import StepContext
from sidebyside.errors import InputError
from sidebyside.inventory import resolve_password
from sidebyside.plan.model import Step
from sidebyside.services.catalog import api_check_paths
from sidebyside.traffic.broker import queue_source, queues_empty
from sidebyside.traffic.fleet import HaproxyFleet
from sidebyside.traffic.freeze import WriteFreeze
from sidebyside.traffic.keepalived import KeepalivedControl
from sidebyside.traffic.probe import DirectHttpCheck
from sidebyside.traffic.switch import Side, SwitchSettings, TrafficSwitch, routes_from_inventory
from sidebyside.traffic.waiting import wait_until


def _side(step: Step, key: str = "to") -> Side:
    value = step.params.get(key)
    if value not in ("old", "new"):
        raise InputError(f"step {step.id}: params.{key} must be old or new, not {value!r}")
    return value  # type: ignore[return-value]


def _service(step: Step) -> str:
    if not step.service:
        raise InputError(f"step {step.id}: no service")
    return step.service


WaitName = Literal["drain_timeout", "queue_timeout", "vip_timeout"]


class _Traffic:
    def __init__(self, context: ActionContext) -> None:
        self.inventory = context.inventory
        self.hosts = context.hosts
        self.path = context.path  # files of HAProxy and keepalived under each host's root

    def wait_seconds(self, ctx: StepContext, name: WaitName) -> float:
        """How long a wait may last: the inventory's window.<name>, unless the run's
        options override it."""
        override = ctx.options.get(name)
        return float(override if override is not None else getattr(self.inventory.window, name))

    def switch(self, ctx: StepContext) -> TrafficSwitch | None:
        model = self.inventory.ha.haproxy
        if model is None:
            return None
        fleet = HaproxyFleet.from_inventory(model, self.hosts, path=self.path)
        first_node = fleet.nodes[0].host
        return TrafficSwitch(
            fleet=fleet, routes=routes_from_inventory(model),
            check_server=DirectHttpCheck(via=first_node, paths=api_check_paths()),
            wait=wait_until, log=ctx.log,
            settings=SwitchSettings(
                drain_timeout=self.wait_seconds(ctx, "drain_timeout")))

    def freeze(self, ctx: StepContext) -> WriteFreeze:
        """Raises InputError when the inventory has no ha.haproxy.write_freeze."""
        model = self.inventory.ha.haproxy
        if model is None or model.write_freeze is None:
            raise InputError("the inventory has no ha.haproxy.write_freeze (the map file "
                             "of the read-only window)")
        fleet = HaproxyFleet.from_inventory(model, self.hosts, path=self.path)
        map_file = model.write_freeze.map

        def placed(node: Any) -> str:
            return self.path(node.name, map_file)

        return WriteFreeze(nodes=fleet.nodes, map_file=placed,
                           routes=routes_from_inventory(model),
                           allow_token_issue=model.write_freeze.allow_token_issue,
                           wait=wait_until, log=ctx.log,
                           timeout=self.wait_seconds(ctx, "drain_timeout"))

    def wait_for_queues(self, service: str, ctx: StepContext) -> dict[str, int] | None:
        """The service's RabbitMQ queues empty (when `old.broker` is given). Raises
        TrafficNotSettled, UnreachableError."""
        broker = self.inventory.old.broker
        if broker is None:
            return None
        source = queue_source(broker, host=self.hosts,
                              password=lambda: resolve_password(broker, "old.broker"))
        queues = queues_empty(source, service,
                              timeout=self.wait_seconds(ctx, "queue_timeout"),
                              log=ctx.log)
        return {q.name: q.messages for q in queues}

    def has_backend(self, service: str) -> bool:
        model = self.inventory.ha.haproxy
        return model is not None and service in model.backends


class DrainAction(_Traffic):
    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        """Raises TrafficNotSettled (sessions or queues at the timeout),
        HaproxyCommandRejected, HaproxyUnreachable, UnreachableError (broker)."""
        service = _service(step)
        result: dict[str, Any] = {"service": service}
        switch = self.switch(ctx)
        if switch is not None and self.has_backend(service):
            result["haproxy"] = switch.drain_old(service)
        queues = self.wait_for_queues(service, ctx)
        if queues is not None:
            result["queues"] = queues
        return result


class FreezeWritesAction(_Traffic):
    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        """Raises InputError (no write_freeze), TrafficNotSettled, HaproxyCommandRejected,
        HaproxyUnreachable, UnreachableError (broker)."""
        service = _service(step)
        result = self.freeze(ctx).freeze(service)
        queues = self.wait_for_queues(service, ctx)
        if queues is not None:
            result["queues"] = queues
        return result
    # No verify: frozen is not enough, the wait for the requests in flight must have
    # ended, which only a completed run proves; a killed run re-freezes (idempotent).


class OpenTokenIssueAction(_Traffic):
    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        """Raises InputError, TrafficNotSettled, HaproxyCommandRejected, HaproxyUnreachable."""
        return self.freeze(ctx).open_logins()

    def verify(self, step: Step, ctx: StepContext) -> bool:
        return self.freeze(ctx).logins_open()


class ThawWritesAction(_Traffic):
    def _services(self, step: Step) -> list[str]:
        if step.service:
            return [step.service]
        return [str(s) for s in step.params.get("services", [])]

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        """Raises InputError, TrafficNotSettled, HaproxyCommandRejected, HaproxyUnreachable."""
        return self.freeze(ctx).thaw(self._services(step))

    def verify(self, step: Step, ctx: StepContext) -> bool:
        return self.freeze(ctx).thawed(self._services(step))


class SwitchTrafficAction(_Traffic):
    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        """Raises ServerCheckFailed, TrafficNotSettled, HaproxyCommandRejected,
        HaproxyUnreachable."""
        switch = self.switch(ctx)
        if switch is None:
            raise InputError(f"step {step.id}: the inventory has no ha.haproxy")
        return switch.switch_to(_service(step), _side(step))

    def verify(self, step: Step, ctx: StepContext) -> bool:
        switch = self.switch(ctx)
        return switch is not None and switch.serving(_service(step)) == _side(step)


class MoveVipAction(_Traffic):
    def control(self, ctx: StepContext) -> KeepalivedControl:
        model = self.inventory.ha.keepalived
        if model is None:
            raise InputError("the inventory has no ha.keepalived")
        return KeepalivedControl.from_inventory(
            model, self.hosts, wait=wait_until, path=self.path, log=ctx.log,
            timeout=self.wait_seconds(ctx, "vip_timeout"))

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        """Raises InputError, RemoteError, TrafficNotSettled."""
        method = step.params.get("method", "track_file")
        if method not in ("track_file", "stop"):
            raise InputError(f"step {step.id}: params.method must be track_file or stop")
        return self.control(ctx).move_vip(_side(step), method=method)

    def verify(self, step: Step, ctx: StepContext) -> bool:
        return self.control(ctx).holder_side() == _side(step)
