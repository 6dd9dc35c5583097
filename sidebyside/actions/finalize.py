"""`sbs finalize`'s steps, once every node runs the new release: require_all_upgraded
(a gate naming what is still old), remove_rpc_pins (nova's hand-made [upgrade_levels]
pins on the new controllers; sidebyside/computes/pins.py), finalize_db (each service's
catalog `finalize` stages: online data migrations to the end, pending contracts)."""

from __future__ import annotations

from typing import Any

from sidebyside.actions.computes import new_side_nova_services
from sidebyside.actions.context import ActionContext
from sidebyside.actions.upgrade import NewSideAction
from sidebyside.computes.follow import file_attributes
from sidebyside.computes.pins import remove_manual_pins
from sidebyside.computes.registry import RegisteredCinderService, registered_cinder_services
from sidebyside.computes.upgrade import old_services, require_target_version
from sidebyside.computes.versions import releases_of
from sidebyside.db import server_facts
from sidebyside.engine.executor import StepContext
from sidebyside.engine.per_host import run_on_hosts
from sidebyside.errors import PreflightError
from sidebyside.plan.model import Step
from sidebyside.remote.factory import rooted
from sidebyside.services.catalog import service
from sidebyside.upgrade.db_sync import run_db_sync

NOVA_CONF = "/etc/nova/nova.conf"


def behind_cinder_services(rows: list[RegisteredCinderService]) -> list[RegisteredCinderService]:
    """cinder services reporting older RPC or object versions than the newest of their
    binary (cinder pins itself to the oldest it sees: an old one holds them all). Pure."""
    newest: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
    for row in rows:
        newest[row.binary] = max(newest.get(row.binary, ((), ())), row.versions())
    return sorted((r for r in rows if r.versions() < newest[r.binary]),
                  key=lambda r: (r.host, r.binary))


class RequireAllUpgradedAction:
    """`require_all_upgraded` (a gate): no nova service older than the new release, no
    cinder service behind the others of its binary, in the new side's databases."""

    def __init__(self, context: ActionContext) -> None:
        self.inventory = context.inventory

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        release = self.inventory.release.to
        nova = service("nova")
        still: list[str] = []
        counted = 0
        if "nova" in self.inventory.services:
            target = require_target_version(nova.compute_versions, release)
            registered = new_side_nova_services(self.inventory)
            counted += len(registered)
            for row in old_services(registered, target):
                runs = releases_of(row.version, nova.compute_versions)
                still.append(f"{row.binary} on {row.host} (service version {row.version}"
                             + (f", {'/'.join(runs)}" if runs else "") + ")")
        if "cinder" in self.inventory.services:
            with server_facts.probe_session(self.inventory.new.database,
                                            "new.database") as conn:
                rows = registered_cinder_services(conn, service("cinder").databases[0])
            counted += len(rows)
            still += [f"{r.binary} on {r.host} (RPC {r.rpc_version}, objects "
                      f"{r.object_version}, behind the others)"
                      for r in behind_cinder_services(rows)]
        if still:
            raise PreflightError(
                f"{len(still)} service(s) of an older release are still registered: "
                + "; ".join(still),
                hint="upgrade them (`sbs computes upgrade`), or delete the service records "
                     "of hosts that are gone; then run `sbs finalize` again")
        ctx.log(f"all {counted} registered nova and cinder services run {release}")
        return {"services": counted}


class RemoveRpcPinsAction(NewSideAction):
    """`remove_rpc_pins`: on every new controller, nova.conf's [upgrade_levels] options
    that pin a version by hand are removed (a comment keeps them); `auto` stays. The
    file's owner, group and mode are kept. The nova services are restarted by the
    steps after this one (they read the minimum version only at start)."""

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        release = self.inventory.release.to

        def on_host(name: str) -> dict[str, Any]:
            host = self.hosts(name)
            root = self.inventory.hosts[name].root
            target = rooted(root, NOVA_CONF)
            if not host.exists(target):
                return {"removed": [], "note": f"no {NOVA_CONF}"}
            data = host.read_file(target)
            changed, removed = remove_manual_pins(data, path=NOVA_CONF, release=release)
            if removed:
                mode, owner, group = file_attributes(host, target, root)
                host.put_file(target, changed, mode=mode, owner=owner, group=group)
            for line in removed:
                ctx.log(f"{name}: {NOVA_CONF}: removed {line}")
            if not removed:
                ctx.log(f"{name}: {NOVA_CONF}: no version pinned by hand")
            return {"removed": removed}

        return run_on_hosts(ctx, list(step.hosts or self.inventory.new.controllers), on_host)


class FinalizeDbAction(NewSideAction):
    """`finalize_db`: the service's catalog `finalize` stages with the new release's
    code on one new controller."""

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        info, control = self._service(step)
        release = self._release(step)
        name = self._host_name(step)
        result = run_db_sync(self.hosts(name), info, release, control.bin_dir_for(release),
                             self._etc(name), ctx.log, only=info.finalize_stages)
        return result.to_dict()
