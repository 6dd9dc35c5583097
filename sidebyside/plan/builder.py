"""Inventory -> ordered steps of prepare, cutover and rollback. No I/O here.

Each command's builder reads top to bottom as the runbook `sbs plan` prints. They are
made of the phase functions below, which every runbook shares: one step id, action,
title and parameters per phase, written once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from sidebyside.errors import InputError
from sidebyside.inventory import Inventory
from sidebyside.plan.model import Changes, Plan, Step
from sidebyside.services.catalog import databases_of, service
from sidebyside.sides import require_own_bus

COMMANDS = ("prepare", "cutover", "rollback", "computes-upgrade", "finalize")


# Phases shared by the runbooks ------------------------------------------------------

def _prove_sides(phase: str, **params: object) -> Step:
    """Every run's first step: old and new proven different machines and database
    servers, by identity, before anything is written (sidebyside/sides.py)."""
    return Step(id=f"{phase}.prove-sides", action="prove_sides_distinct",
                changes=Changes.NOTHING, gate=True, params=dict(params),
                title="Prove old and new are different machines and database servers "
                      "(machine-id, server identity)"
                      + (", the new side on a message bus of its own" if params.get("bus")
                         else ""))


def _changes_on(side: str) -> Changes:
    """What starting or stopping services of `side` changes."""
    return Changes.NEW_SIDE if side == "new" else Changes.OLD_SERVICES


def _config_steps(inv: Inventory, phase: str) -> list[Step]:
    """Configuration carried to the new side: all of it in prepare, the delta since
    prepare in cutover. One step, the services in parallel: their translations are
    independent, and each imports its release (oslo-config-generator) for seconds."""
    return [Step(
        id=f"{phase}.config", action="migrate_config",
        title=f"Carry the configuration and key repositories of "
              f"{', '.join(inv.ordered_services)} to the new controllers, translated to "
              f"{inv.release.to} (the services in parallel)",
        changes=Changes.NEW_SIDE, hosts=tuple(inv.new.controllers),
        params={"services": list(inv.ordered_services), "delta": phase == "cutover"})]


def _static_assets_steps(inv: Inventory, phase: str) -> list[Step]:
    """What a service serves built from the new release and the carried settings
    (horizon's static files), on every new controller, before it starts there."""
    return [Step(
        id=f"{phase}.static-assets.{svc}", action="build_static_assets", service=svc,
        title=f"Build {svc}'s static files with {inv.release.to} on the new controllers "
              f"({', '.join(c.name for c in service(svc).static_assets)})",
        changes=Changes.NEW_SIDE, hosts=tuple(inv.new.controllers),
        params={"release": inv.release.to})
        for svc in inv.ordered_services if service(svc).static_assets]


def _db_sync_steps(inv: Inventory, phase: str) -> list[Step]:
    """Every database upgraded along the release path, one chain per service, the
    chains in parallel: each service's releases in order, nova's cell mappings at the
    head of nova's chain (before any nova db sync touches a database). The services'
    databases are independent, so the window holds the slowest chain, not their sum."""
    chains = [svc for svc in inv.ordered_services if service(svc).db_sync]
    if not chains:
        return []
    cells = " (nova's cell mappings first)" if "nova" in chains else ""
    return [Step(
        id=f"{phase}.db-sync", action="db_sync_chains",
        title=f"Upgrade the databases to {' -> '.join(inv.release.path)}, one chain per "
              f"service in parallel{cells}: {', '.join(chains)}",
        changes=Changes.NEW_SIDE,
        # once-per-cloud commands run on exactly one controller
        hosts=(inv.new.controllers[0],),
        params={"services": chains, "path": list(inv.release.path),
                "cell_mappings": "nova" in chains})]


def _start_each(inv: Inventory, phase: str, side: str,
                services: Iterable[str] | None = None) -> list[Step]:
    """One step per service (every one, in order, by default), each started (and
    checked) alone."""
    controllers = tuple(inv.side(side).controllers)
    return [Step(id=f"{phase}.start-{side}.{svc}", action="start_service", service=svc,
                 title=f"Start {svc} on the {side} controllers", hosts=controllers,
                 changes=_changes_on(side), params={"side": side})
            for svc in (inv.ordered_services if services is None else services)]


def _start_together(inv: Inventory, phase: str, side: str) -> Step:
    """One step starting every service of a side at once: in the window, where each
    service's start-up (its process importing itself) would otherwise add up."""
    return Step(id=f"{phase}.start-{side}", action="start_service",
                title=f"Start every service on the {side} controllers, together",
                hosts=tuple(inv.side(side).controllers), changes=_changes_on(side),
                params={"side": side, "services": list(inv.ordered_services)})


def _stop(inv: Inventory, phase: str, side: str, services: Iterable[str]) -> list[Step]:
    controllers = tuple(inv.side(side).controllers)
    return [Step(id=f"{phase}.stop-{side}.{svc}", action="stop_service", service=svc,
                 changes=_changes_on(side), hosts=controllers, params={"side": side},
                 title=f"Stop {svc} on the {side} controllers")
            for svc in services]


def _stop_together(inv: Inventory, phase: str, side: str, services: Iterable[str]) -> list[Step]:
    """One step stopping `services` of a side at once (none: no step)."""
    names = list(services)
    if not names:
        return []
    return [Step(id=f"{phase}.stop-{side}", action="stop_service",
                 title=f"Stop {', '.join(names)} on the {side} controllers, together",
                 hosts=tuple(inv.side(side).controllers), changes=_changes_on(side),
                 params={"side": side, "services": names})]


def _drain_and_stop_old(inv: Inventory, services: Iterable[str]) -> list[Step]:
    """One old service after the other: no new requests, in-flight ones finished, its
    queues empty, then stopped."""
    steps: list[Step] = []
    for svc in services:
        steps.append(Step(id=f"cutover.drain.{svc}", action="drain", service=svc,
                          changes=Changes.TRAFFIC,
                          title=f"Drain old {svc}: no new requests, wait for in-flight "
                                "requests and its queues to empty"))
        steps += _stop(inv, "cutover", "old", [svc])
    return steps


def _final_copy(databases: list[str]) -> Step:
    return Step(id="cutover.final-copy", action="copy_databases", changes=Changes.NEW_SIDE,
                title="Final copy and verification of every database old -> new",
                params={"databases": databases, "replace": True, "final": True})


def _record_new_position(databases: list[str], sides: list[str]) -> Step:
    return Step(id="cutover.record-position", action="record_position",
                changes=Changes.LOCAL, params={"databases": databases, "sides": sides},
                title="Record the new databases' position (what rollback would drop)")


def _switch(inv: Inventory, phase: str, to: str) -> list[Step]:
    """HAProxy sends each backend's traffic to `to`, in service order (keystone first:
    the other services validate tokens through the VIP). Each switch checks the servers
    it moves to directly (HTTP) before they take traffic."""
    if inv.ha.haproxy is None:
        return []
    other = "old" if to == "new" else "new"
    return [Step(id=f"{phase}.switch.{svc}", action="switch_traffic", service=svc,
                 changes=Changes.TRAFFIC, params={"to": to},
                 title=f"HAProxy: {to} {svc} servers ready (checked directly first), "
                       f"{other} ones maint")
            for svc in inv.ordered_services if svc in inv.ha.haproxy.backends]


def _move_vip(inv: Inventory, phase: str, to: str) -> list[Step]:
    """keepalived moves the VIP to `to` (nothing without keepalived)."""
    if inv.ha.keepalived is None:
        return []
    where = "to the new side" if to == "new" else "back"
    return [Step(id=f"{phase}.move-vip", action="move_vip", changes=Changes.TRAFFIC,
                 params={"to": to},
                 title=f"keepalived: move VIP {inv.ha.keepalived.vip} {where}")]


def _computes_follow(inv: Inventory, phase: str, to: str) -> list[Step]:
    """The compute nodes join the control plane that now serves (nothing without
    `computes`): their transport URLs moved to `to`'s bus and their services restarted,
    a batch at a time, each waited for until that control plane has its heartbeat. They
    stay on the old release (the control plane's RPC is pinned to them)."""
    if inv.computes is None:
        return []
    names = list(inv.computes.nodes)
    where = "the new" if to == "new" else "the old"
    return [Step(id=f"{phase}.computes-follow", action="follow_bus",
                 changes=Changes.COMPUTES, hosts=tuple(names), params={"to": to},
                 title=f"Compute nodes ({', '.join(names)}) follow {where} control plane: "
                       f"transport URLs to its bus, restarted {inv.computes.batch_size} "
                       "at a time, each until it reports there")]


# prepare ----------------------------------------------------------------------------

def plan_prepare(inv: Inventory) -> list[Step]:
    """Raises SharedBusError (exit 3) when the new side's RPC workers would start on
    the old side's broker and vhost: refused before any plan exists (a dry run too)."""
    require_own_bus(inv)
    dbs = databases_of(inv.ordered_services)
    return [
        _prove_sides("prepare", bus=True),
        Step(id="prepare.preflight", action="preflight", changes=Changes.NOTHING,
             title="Pre-flight checks: reachability, releases, disk, capacity, known "
                   "incompatibilities"),
        Step(id="prepare.backup", action="backup", changes=Changes.LOCAL,
             title=f"Verified backup of the old databases ({', '.join(dbs) or 'none'}) "
                   "and configs", params={"databases": dbs}),
        *_deploy(inv),
        Step(id="prepare.copy-databases", action="copy_databases", changes=Changes.NEW_SIDE,
             title="Copy and verify every service database old -> new",
             params={"databases": dbs, "replace": True}),
        *_config_steps(inv, "prepare"),
        *_static_assets_steps(inv, "prepare"),
        *[Step(id=f"prepare.upgrade-check.{svc}", action="upgrade_check", service=svc,
               changes=Changes.NOTHING, hosts=(inv.new.controllers[0],),
               title=f"{svc}-status upgrade check on the new controller")
          for svc in inv.ordered_services if service(svc).status_check],
        *_db_sync_steps(inv, "prepare"),
        *_start_each(inv, "prepare", "new"),
        Step(id="prepare.verify-new", action="verify_side", changes=Changes.NOTHING,
             title="Verify the new controller directly (smoke and parity with old)",
             params={"side": "new"}),
    ]


def _deploy(inv: Inventory) -> list[Step]:
    """The operator's own deployment of the new controllers, when the inventory has one."""
    if not inv.deploy:
        return []
    how = "ansible playbook" if inv.deploy.ansible else "deploy command"
    return [Step(id="prepare.deploy", action="deploy", changes=Changes.NEW_SIDE,
                 title=f"Deploy the new controllers with the operator's {how}",
                 hosts=tuple(inv.new.controllers), params={"timeout": inv.deploy.timeout})]


# cutover ----------------------------------------------------------------------------

def read_only_window(inv: Inventory) -> list[str]:
    """Services whose old API keeps serving reads during cutover's final sync, behind
    an HAProxy write freeze (empty without ha.haproxy.write_freeze)."""
    haproxy = inv.ha.haproxy
    if haproxy is None or haproxy.write_freeze is None:
        return []
    return [svc for svc in inv.ordered_services
            if svc in haproxy.backends and service(svc).serves_reads_while_frozen]


def frozen_services(inv: Inventory) -> list[str]:
    """Services whose writes HAProxy refuses from the start of the cutover: those with
    databases. A service without one (horizon) writes only through the other services'
    APIs, which refuse the writes themselves; refusing its POSTs would refuse the
    dashboard's logins too, which the new keystone takes before the window ends."""
    haproxy = inv.ha.haproxy
    if haproxy is None or haproxy.write_freeze is None:
        return []
    return [svc for svc in inv.ordered_services
            if svc in haproxy.backends and service(svc).databases]


def plan_cutover(inv: Inventory) -> list[Step]:
    """The read-only window when HAProxy can freeze the writes of a backend
    (ha.haproxy.write_freeze), else the drain."""
    if frozen_services(inv):
        return plan_cutover_read_only_window(inv)
    return plan_cutover_drain(inv)


def plan_cutover_drain(inv: Inventory) -> list[Step]:
    """Every old service drains and stops before the final copy; the cloud takes writes
    again as soon as traffic moves to the new side."""
    dbs = databases_of(inv.ordered_services)
    return [
        _prove_sides("cutover"),
        Step(id="cutover.snapshot", action="snapshot_resources", changes=Changes.LOCAL,
             title="Count resources through the VIP before the drain"),
        *_drain_and_stop_old(inv, inv.ordered_services),
        # The new services ran since prepare (verification): they hold connections to
        # the copies the final copy replaces, so they stop first.
        *_stop_together(inv, "cutover", "new", inv.ordered_services),
        _final_copy(dbs),
        *_config_steps(inv, "cutover"),
        *_db_sync_steps(inv, "cutover"),
        # No API smoke on the new side here: its services validate tokens through the
        # VIP, which no Keystone answers until the switch; verify-vip smoke-tests it all.
        _start_together(inv, "cutover", "new"),
        _record_new_position(dbs, ["new", "old"]),
        *_switch(inv, "cutover", "new"),
        *_move_vip(inv, "cutover", "new"),
        *_computes_follow(inv, "cutover", "new"),
        # The cloud takes writes as soon as traffic moves: a resource created since the
        # snapshot is reported, a missing one fails.
        Step(id="cutover.verify-vip", action="verify_vip", changes=Changes.NOTHING,
             params={"allow_added": True},
             title="Verify through the VIP with openstacksdk; every resource of the "
                   "snapshot is there (failure rolls back automatically)"),
    ]


def plan_cutover_read_only_window(inv: Inventory) -> list[Step]:
    """HAProxy refuses every frozen service's writes at once, so the old databases stop
    changing at one point; reads go on where the old API can serve them (those old
    services stop only after the switch). Writes reopen on the new side once verified."""
    dbs = databases_of(inv.ordered_services)
    frozen = frozen_services(inv)
    readable = read_only_window(inv)
    stopping = [svc for svc in inv.ordered_services if svc not in readable]
    return [
        _prove_sides("cutover"),
        # Whatever does not need the old side frozen happens before the window: the
        # config delta since prepare (configs do not change in the window) and stopping
        # the new services (they take no traffic yet; they hold connections to the
        # copies the final copy replaces).
        *_config_steps(inv, "cutover"),
        *_stop_together(inv, "cutover", "new", inv.ordered_services),
        *[Step(id=f"cutover.freeze-writes.{svc}", action="freeze_writes", service=svc,
               changes=Changes.TRAFFIC,
               title=f"Read-only window for {svc}: HAProxy refuses writes (503), "
                     + ("the old servers keep serving reads; " if svc in readable else "")
                     + "wait for requests in flight and queues")
          for svc in frozen],
        # Counted once nothing can change them any more, on the old controllers directly
        # (sbs's own login there writes nothing; the VIP refuses logins in the window).
        # The services whose old API stops now are counted now; the others keep
        # answering and are compared with the old side live, at verification.
        Step(id="cutover.snapshot", action="snapshot_resources", changes=Changes.LOCAL,
             params={"side": "old", "services": stopping},
             title="Count the resources of the services about to stop, on the old side, "
                   "writes frozen"),
        *_drain_and_stop_old(inv, stopping),
        Step(id="cutover.old-position", action="record_position", changes=Changes.LOCAL,
             params={"databases": dbs, "sides": ["old"]},
             title="Checksum the old databases: they must not change until the switch"),
        _final_copy(dbs),
        *_db_sync_steps(inv, "cutover"),
        # No API smoke on the new side here: its services validate tokens through the
        # VIP, which no Keystone answers until the switch; verify-vip smoke-tests it all.
        _start_together(inv, "cutover", "new"),
        Step(id="cutover.old-unchanged", action="verify_old_untouched",
             changes=Changes.NOTHING, params={"databases": dbs, "since": "freeze"},
             title="Prove no write reached the old databases during the read-only window "
                   "(else nothing switches)"),
        _record_new_position(dbs, ["new"]),
        *_switch(inv, "cutover", "new"),
        *_move_vip(inv, "cutover", "new"),
        *([Step(id="cutover.open-logins", action="open_token_issue", service="keystone",
                changes=Changes.TRAFFIC,
                title="Let logins (token issue) through to the new keystone, other writes "
                      "still refused")]
          if "keystone" in frozen else []),
        *_computes_follow(inv, "cutover", "new"),
        # Verified while writes are still refused: the counts cannot drift, and a failed
        # verification rolls back with nothing written on the new side to lose. The
        # services still answering on the old side are compared with it live.
        Step(id="cutover.verify-vip", action="verify_vip", changes=Changes.NOTHING,
             params={"live_old": readable},
             title="Verify through the VIP with openstacksdk, writes still refused; counts "
                   "equal the old side's (failure rolls back automatically)"),
        Step(id="cutover.thaw-writes", action="thaw_writes", changes=Changes.TRAFFIC,
             params={"services": frozen},
             title="End the read-only window: writes go to the new side"),
        *_stop_together(inv, "cutover", "old", readable),
    ]


# rollback ---------------------------------------------------------------------------

def plan_rollback(inv: Inventory) -> list[Step]:
    """Also what a cutover that fails once traffic moved runs by itself
    (engine/guarded_run.py)."""
    dbs = databases_of(inv.ordered_services)
    frozen = frozen_services(inv)
    return [
        # With a dead new side, what an earlier run proved stands in (actions/sides.py).
        _prove_sides("rollback", recorded_ok=True),
        *([Step(id="rollback.computes-old-release", action="require_computes_on_old_release",
                changes=Changes.NOTHING, gate=True,
                title="The compute nodes still run the old release (none upgraded since the "
                      "cutover): the old control plane can take them back")]
          if inv.computes else []),
        Step(id="rollback.new-writes", action="report_new_writes", changes=Changes.LOCAL,
             params={"databases": dbs},
             title="Report what was written on the new side since cutover; export it; "
                   "refuse without --accept-data-loss"),
        Step(id="rollback.old-untouched", action="verify_old_untouched",
             changes=Changes.NOTHING, params={"databases": dbs},
             title="Prove the old databases are unchanged since cutover (checksums)"),
        _start_together(inv, "rollback", "old"),
        *_move_vip(inv, "rollback", "old"),
        *_switch(inv, "rollback", "old"),
        *_computes_follow(inv, "rollback", "old"),
        # Only once the old side serves every backend again: a write let through
        # earlier would land on the new side.
        *([Step(id="rollback.thaw-writes", action="thaw_writes", changes=Changes.TRAFFIC,
                params={"services": frozen},
                title="End any read-only window: writes go to the old side")]
          if frozen else []),
        *_stop(inv, "rollback", "new", reversed(inv.ordered_services)),
        Step(id="rollback.verify-vip", action="verify_vip", changes=Changes.NOTHING,
             params={"expect": "old"},
             title="Verify through the VIP that the old cloud answers"),
    ]


# after the cutover ------------------------------------------------------------------

def _new_serves(phase: str, *, record_picture: bool = False) -> Step:
    return Step(id=f"{phase}.new-serves", action="require_new_serving",
                changes=Changes.NOTHING, gate=True,
                params={"record_picture": True} if record_picture else {},
                title="The cutover is done and not rolled back: the new control plane serves"
                      + (" (its compute services, hypervisors and resource providers "
                         "recorded)" if record_picture else ""))


def plan_computes_upgrade(inv: Inventory) -> list[Step]:
    """The rolling in-place upgrade of the compute nodes under the new control plane.
    Raises InputError (exit 2) without computes.nodes or computes.upgrade."""
    if inv.computes is None:
        raise InputError(f"{inv.source}: computes: the inventory names no compute nodes",
                         hint="add computes.nodes (and computes.upgrade) to upgrade them")
    if inv.computes.upgrade is None:
        raise InputError(f"{inv.source}: computes.upgrade: not given",
                         hint="name the automation that upgrades one compute node: "
                              "computes.upgrade.ansible (playbook, inventory) or "
                              "computes.upgrade.command")
    names = list(inv.computes.nodes)
    how = "ansible playbook" if inv.computes.upgrade.ansible else "upgrade command"
    return [
        _new_serves("computes-upgrade", record_picture=True),
        Step(id="computes-upgrade.nodes", action="upgrade_computes", changes=Changes.COMPUTES,
             hosts=tuple(names),
             title=f"Upgrade the compute nodes ({', '.join(names)}) to {inv.release.to}, "
                   f"{inv.computes.batch_size} at a time (--batch-size): each disabled, "
                   f"upgraded by the operator's {how}, restarted, back at {inv.release.to}'s "
                   "service version, enabled; the first failure stops the run"),
        Step(id="computes-upgrade.verify", action="verify_computes", changes=Changes.NOTHING,
             title="Verify through the VIP: every compute service up and enabled at the new "
                   "release, hypervisors and resource providers as before"),
    ]


def plan_finalize(inv: Inventory) -> list[Step]:
    """Once nothing of the old release is registered: the RPC pins gone, the online data
    migrations run to the end, any contract still pending run."""
    new_ctl = inv.new.controllers[0]
    steps = [
        _new_serves("finalize"),
        Step(id="finalize.nothing-old", action="require_all_upgraded", changes=Changes.NOTHING,
             gate=True, title="No service of an older release is registered (nova's and "
                              "cinder's services in the new databases): else refuse, naming "
                              "the hosts"),
    ]
    if "nova" in inv.services:
        steps += [
            Step(id="finalize.rpc-pins", action="remove_rpc_pins", changes=Changes.NEW_SIDE,
                 hosts=tuple(inv.new.controllers),
                 title="Remove the RPC version pins set by hand ([upgrade_levels] of nova.conf "
                       "on the new controllers; `auto` stays)"),
            *_stop(inv, "finalize", "new", ["nova"]),
            *_start_each(inv, "finalize", "new", ["nova"]),
        ]
    steps += [
        Step(id=f"finalize.db.{svc}", action="finalize_db", service=svc,
             changes=Changes.NEW_SIDE, hosts=(new_ctl,), params={"release": inv.release.to},
             title=f"{svc}: {', '.join(service(svc).finalize_stages)} with {inv.release.to}")
        for svc in inv.ordered_services if service(svc).finalize_stages
    ]
    # users have worked on the new cloud since the cutover: what they added is no
    # difference, what is missing is
    steps.append(Step(id="finalize.verify-vip", action="verify_vip", changes=Changes.NOTHING,
                      params={"expect": "new", "allow_added": True},
                      title="Verify through the VIP that the new cloud answers"))
    return steps


_BUILDERS: dict[str, Callable[[Inventory], list[Step]]] = {
    "prepare": plan_prepare, "cutover": plan_cutover, "rollback": plan_rollback,
    "computes-upgrade": plan_computes_upgrade, "finalize": plan_finalize,
}


def build_plan(inv: Inventory, command: str) -> Plan:
    """The ordered steps of `command` for this inventory. Raises ValueError for an
    unknown command."""
    if command not in _BUILDERS:
        raise ValueError(f"no plan for {command!r}; known: {', '.join(COMMANDS)}")
    return Plan(command=command, environment=inv.environment,
                steps=tuple(_BUILDERS[command](inv)))
