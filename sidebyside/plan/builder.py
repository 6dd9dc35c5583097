"""Inventory -> ordered steps of prepare, cutover and rollback. No I/O here."""

from __future__ import annotations

from collections.abc import Callable

from sidebyside.inventory import Inventory
from sidebyside.plan.model import Changes, Plan, Step
from sidebyside.services.catalog import databases_of, service
from sidebyside.sides import require_own_bus

COMMANDS = ("prepare", "cutover", "rollback")


def _prove_sides(phase: str, **params: object) -> Step:
    """Every run's first step: old and new proven different machines and database
    servers, by identity, before anything is written (sidebyside/sides.py)."""
    return Step(id=f"{phase}.prove-sides", action="prove_sides_distinct",
                changes=Changes.NOTHING, gate=True, params=dict(params),
                title="Prove old and new are different machines and database servers "
                      "(machine-id, server identity)"
                      + (", the new side on a message bus of its own" if params.get("bus")
                         else ""))


def _db_sync_steps(inv: Inventory, phase: str) -> list[Step]:
    """Cell mappings first, then every release of the path, services in order."""
    steps: list[Step] = []
    new_ctl = inv.new.controllers[0]  # once-per-cloud commands run on exactly one controller
    if "nova" in inv.services:
        steps.append(Step(
            id=f"{phase}.cell-mappings", action="update_cell_mappings", service="nova",
            title="Point nova's cell mappings at the new database and broker "
                  "(before any nova db sync touches a database)",
            changes=Changes.NEW_SIDE, hosts=(new_ctl,),
            params={"release": inv.release.path[0]}))
    for release in inv.release.path:
        for svc in inv.ordered_services:
            if not service(svc).db_sync:
                continue
            steps.append(Step(
                id=f"{phase}.db-sync.{release}.{svc}", action="db_sync", service=svc,
                title=f"Upgrade the {svc} database to {release} "
                      f"({', '.join(c.name for c in service(svc).db_sync)})",
                changes=Changes.NEW_SIDE, hosts=(new_ctl,), params={"release": release}))
    return steps


def _config_steps(inv: Inventory, phase: str) -> list[Step]:
    return [Step(
        id=f"{phase}.config.{svc}", action="migrate_config", service=svc,
        title=f"Carry {svc} configuration and key repositories to the new controllers, "
              f"translated to {inv.release.to}",
        changes=Changes.NEW_SIDE, hosts=tuple(inv.new.controllers),
        params={"delta": phase == "cutover"})
        for svc in inv.ordered_services]


def _start_steps(inv: Inventory, phase: str, side: str) -> list[Step]:
    controllers = tuple(inv.side(side).controllers)
    return [Step(id=f"{phase}.start-{side}.{svc}", action="start_service", service=svc,
                 title=f"Start {svc} on the {side} controllers", hosts=controllers,
                 changes=Changes.NEW_SIDE if side == "new" else Changes.OLD_SERVICES,
                 undo="stop_service", params={"side": side})
            for svc in inv.ordered_services]


def _start_together(inv: Inventory, phase: str, side: str) -> Step:
    """One step starting every service of a side at once: in the window, where each
    service's start-up (its process importing itself) would otherwise add up."""
    return Step(id=f"{phase}.start-{side}", action="start_service",
                title=f"Start every service on the {side} controllers, together",
                hosts=tuple(inv.side(side).controllers),
                changes=Changes.NEW_SIDE if side == "new" else Changes.OLD_SERVICES,
                undo="stop_service" if side == "new" else None,
                params={"side": side, "services": list(inv.ordered_services)})


def plan_prepare(inv: Inventory) -> list[Step]:
    """Raises SharedBusError (exit 3) when the new side's RPC workers would start on
    the old side's broker and vhost: refused before any plan exists (a dry run too)."""
    require_own_bus(inv)
    dbs = databases_of(inv.ordered_services)
    steps = [
        _prove_sides("prepare", bus=True),
        Step(id="prepare.preflight", action="preflight", changes=Changes.NOTHING,
             title="Pre-flight checks: reachability, releases, disk, capacity, known "
                   "incompatibilities"),
        Step(id="prepare.backup", action="backup", changes=Changes.LOCAL,
             title=f"Verified backup of the old databases ({', '.join(dbs) or 'none'}) "
                   "and configs", params={"databases": dbs}),
    ]
    if inv.deploy:
        how = "ansible playbook" if inv.deploy.ansible else "deploy command"
        steps.append(Step(id="prepare.deploy", action="deploy", changes=Changes.NEW_SIDE,
                          title=f"Deploy the new controllers with the operator's {how}",
                          hosts=tuple(inv.new.controllers),
                          params={"timeout": inv.deploy.timeout}))
    steps.append(Step(id="prepare.copy-databases", action="copy_databases",
                      changes=Changes.NEW_SIDE,
                      title="Copy and verify every service database old -> new",
                      params={"databases": dbs, "replace": True}))
    steps += _config_steps(inv, "prepare")
    steps += [Step(id=f"prepare.upgrade-check.{svc}", action="upgrade_check", service=svc,
                   changes=Changes.NOTHING, hosts=(inv.new.controllers[0],),
                   title=f"{svc}-status upgrade check on the new controller")
              for svc in inv.ordered_services if service(svc).status_check]
    steps += _db_sync_steps(inv, "prepare")
    steps += _start_steps(inv, "prepare", "new")
    steps.append(Step(id="prepare.verify-new", action="verify_side", changes=Changes.NOTHING,
                      title="Verify the new controller directly (smoke and parity with old)",
                      params={"side": "new"}))
    return steps


def read_only_window(inv: Inventory) -> list[str]:
    """Services whose old API keeps serving reads during cutover's final sync, behind
    an HAProxy write freeze (empty without ha.haproxy.write_freeze)."""
    haproxy = inv.ha.haproxy
    if haproxy is None or haproxy.write_freeze is None:
        return []
    return [svc for svc in inv.ordered_services
            if svc in haproxy.backends and service(svc).serves_reads_while_frozen]


def frozen_services(inv: Inventory) -> list[str]:
    """Services whose writes HAProxy refuses from the start of the cutover."""
    haproxy = inv.ha.haproxy
    if haproxy is None or haproxy.write_freeze is None:
        return []
    return [svc for svc in inv.ordered_services if svc in haproxy.backends]


def _stop_old(inv: Inventory, svc: str) -> Step:
    return Step(id=f"cutover.stop-old.{svc}", action="stop_service", service=svc,
                changes=Changes.OLD_SERVICES, undo="start_service",
                hosts=tuple(inv.old.controllers), params={"side": "old"},
                title=f"Stop {svc} on the old controllers")


def plan_cutover(inv: Inventory) -> list[Step]:
    dbs = databases_of(inv.ordered_services)
    frozen = frozen_services(inv)
    readable = read_only_window(inv)
    stop_new = [Step(id=f"cutover.stop-new.{svc}", action="stop_service", service=svc,
                     changes=Changes.NEW_SIDE, hosts=tuple(inv.new.controllers),
                     params={"side": "new"}, title=f"Stop {svc} on the new controllers")
                for svc in inv.ordered_services]
    # Whatever does not need the old side frozen happens before the read-only window:
    # the config delta since prepare (configs do not change in the window) and stopping
    # the new services (they take no traffic yet).
    steps = [_prove_sides("cutover")]
    steps += [*_config_steps(inv, "cutover"), *stop_new] if frozen else [
        Step(id="cutover.snapshot", action="snapshot_resources", changes=Changes.LOCAL,
             title="Count resources through the VIP before the drain")]
    # The read-only window: every service's writes are refused at once, so the old
    # databases stop changing at one point; reads go on where the old API can serve them.
    steps += [Step(id=f"cutover.freeze-writes.{svc}", action="freeze_writes", service=svc,
                   changes=Changes.TRAFFIC, undo="thaw_writes",
                   title=f"Read-only window for {svc}: HAProxy refuses writes (503), "
                         + ("the old servers keep serving reads; " if svc in readable
                            else "") + "wait for requests in flight and queues")
              for svc in frozen]
    if frozen:
        # Counted once nothing can change them any more, on the old controllers directly
        # (sbs's own login there writes nothing; the VIP refuses logins in the window).
        # The services whose old API stops now are counted now; the others keep
        # answering and are compared with the old side live, at verification.
        steps.append(Step(id="cutover.snapshot", action="snapshot_resources",
                          changes=Changes.LOCAL,
                          params={"side": "old", "services": [
                              s for s in inv.ordered_services if s not in readable]},
                          title="Count the resources of the services about to stop, on "
                                "the old side, writes frozen"))
    for svc in inv.ordered_services:
        if svc in readable:
            continue  # stopped after the switch
        steps.append(Step(id=f"cutover.drain.{svc}", action="drain", service=svc,
                          changes=Changes.TRAFFIC, undo="undrain",
                          title=f"Drain old {svc}: no new requests, wait for in-flight "
                                "requests and its queues to empty"))
        steps.append(_stop_old(inv, svc))
    # The new services ran since prepare (verification): they hold connections to the
    # copies the final copy replaces, so they stop first.
    if not frozen:
        steps += stop_new
    if frozen:
        steps.append(Step(id="cutover.old-position", action="record_position",
                          changes=Changes.LOCAL, params={"databases": dbs, "sides": ["old"]},
                          title="Checksum the old databases: they must not change until "
                                "the switch"))
    steps.append(Step(id="cutover.final-copy", action="copy_databases",
                      changes=Changes.NEW_SIDE,
                      title="Final copy and verification of every database old -> new",
                      params={"databases": dbs, "replace": True, "final": True}))
    if not frozen:
        steps += _config_steps(inv, "cutover")
    steps += _db_sync_steps(inv, "cutover")
    steps.append(_start_together(inv, "cutover", "new"))
    # No API smoke on the new side here: its services validate tokens through the VIP,
    # which no Keystone answers until the switch. Each switch checks its new servers
    # directly (HTTP) before they take traffic; verify-vip then smoke-tests it all.
    if frozen:
        steps.append(Step(id="cutover.old-unchanged", action="verify_old_untouched",
                          changes=Changes.NOTHING,
                          params={"databases": dbs, "since": "freeze"},
                          title="Prove no write reached the old databases during the "
                                "read-only window (else nothing switches)"))
    steps.append(Step(id="cutover.record-position", action="record_position",
                      changes=Changes.LOCAL,
                      params={"databases": dbs, "sides": ["new"] if frozen else ["new", "old"]},
                      title="Record the new databases' position (what rollback would drop)"))
    if inv.ha.haproxy:
        for svc in inv.ordered_services:
            if svc in inv.ha.haproxy.backends:
                steps.append(Step(id=f"cutover.switch.{svc}", action="switch_traffic",
                                  service=svc, changes=Changes.TRAFFIC, undo="switch_back",
                                  params={"to": "new"},
                                  title=f"HAProxy: new {svc} servers ready (checked directly "
                                        "first), old ones maint"))
    if inv.ha.keepalived:
        steps.append(Step(id="cutover.move-vip", action="move_vip", changes=Changes.TRAFFIC,
                          undo="move_vip", params={"to": "new"},
                          title=f"keepalived: move VIP {inv.ha.keepalived.vip} to the new side"))
    if frozen and "keystone" in frozen:
        steps.append(Step(id="cutover.open-logins", action="open_token_issue",
                          service="keystone", changes=Changes.TRAFFIC,
                          title="Let logins (token issue) through to the new keystone, "
                                "other writes still refused"))
    if not frozen:
        # Without a read-only window the cloud takes writes as soon as traffic moves:
        # a resource created since the snapshot is reported, a missing one fails.
        return [*steps, Step(id="cutover.verify-vip", action="verify_vip",
                             changes=Changes.NOTHING, params={"allow_added": True},
                             title="Verify through the VIP with openstacksdk; every "
                                   "resource of the snapshot is there (failure rolls back "
                                   "automatically)")]
    # Verified while writes are still refused: the counts cannot drift, and a failed
    # verification rolls back with nothing written on the new side to lose. The
    # services still answering on the old side are compared with it live.
    steps.append(Step(id="cutover.verify-vip", action="verify_vip", changes=Changes.NOTHING,
                      title="Verify through the VIP with openstacksdk, writes still "
                            "refused; counts equal the old side's (failure rolls back "
                            "automatically)",
                      params={"live_old": readable}))
    steps.append(Step(id="cutover.thaw-writes", action="thaw_writes",
                      changes=Changes.TRAFFIC, params={"services": frozen},
                      title="End the read-only window: writes go to the new side"))
    steps += [_stop_old(inv, svc) for svc in readable]
    return steps


def plan_rollback(inv: Inventory) -> list[Step]:
    dbs = databases_of(inv.ordered_services)
    reverse = list(reversed(inv.ordered_services))
    steps = [
        # With a dead new side, what an earlier run proved stands in (actions/sides.py).
        _prove_sides("rollback", recorded_ok=True),
        Step(id="rollback.new-writes", action="report_new_writes", changes=Changes.LOCAL,
             params={"databases": dbs},
             title="Report what was written on the new side since cutover; export it; "
                   "refuse without --accept-data-loss"),
        Step(id="rollback.old-untouched", action="verify_old_untouched",
             changes=Changes.NOTHING, params={"databases": dbs},
             title="Prove the old databases are unchanged since cutover (checksums)"),
    ]
    steps.append(_start_together(inv, "rollback", "old"))
    if inv.ha.keepalived:
        steps.append(Step(id="rollback.move-vip", action="move_vip", changes=Changes.TRAFFIC,
                          params={"to": "old"},
                          title=f"keepalived: move VIP {inv.ha.keepalived.vip} back"))
    if inv.ha.haproxy:
        # Keystone first: the other services validate tokens through the VIP.
        steps += [Step(id=f"rollback.switch.{svc}", action="switch_traffic", service=svc,
                       changes=Changes.TRAFFIC, params={"to": "old"},
                       title=f"HAProxy: old {svc} servers ready (checked directly first), "
                             "new ones maint")
                  for svc in inv.ordered_services if svc in inv.ha.haproxy.backends]
    frozen = frozen_services(inv)
    if frozen:
        # Only once the old side serves every backend again: a write let through
        # earlier would land on the new side.
        steps.append(Step(id="rollback.thaw-writes", action="thaw_writes",
                          changes=Changes.TRAFFIC, params={"services": frozen},
                          title="End any read-only window: writes go to the old side"))
    steps += [Step(id=f"rollback.stop-new.{svc}", action="stop_service", service=svc,
                   changes=Changes.NEW_SIDE, hosts=tuple(inv.new.controllers),
                   params={"side": "new"}, title=f"Stop {svc} on the new controllers")
              for svc in reverse]
    steps.append(Step(id="rollback.verify-vip", action="verify_vip", changes=Changes.NOTHING,
                      params={"expect": "old"},
                      title="Verify through the VIP that the old cloud answers"))
    return steps


_BUILDERS: dict[str, Callable[[Inventory], list[Step]]] = {
    "prepare": plan_prepare, "cutover": plan_cutover, "rollback": plan_rollback,
}


def build_plan(inv: Inventory, command: str) -> Plan:
    """The ordered steps of `command` for this inventory. Raises ValueError for an
    unknown command."""
    if command not in _BUILDERS:
        raise ValueError(f"no plan for {command!r}; known: {', '.join(COMMANDS)}")
    return Plan(command=command, environment=inv.environment,
                steps=tuple(_BUILDERS[command](inv)))
