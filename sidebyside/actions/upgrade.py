"""Executor actions of the service upgrade: preflight, upgrade_check, db_sync_chains
(nova's cell mappings and each service's db_syncs) and build_static_assets, all on
the new side (the pre-flight only reads).

Each is built from the ActionContext (the inventory and its hosts); the plan step
says which service, release and controller. Results (per-stage durations
included) are returned for the journal.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from sidebyside.actions.context import ActionContext
from sidebyside.config.metadata import service_spec
from sidebyside.db.client import TargetSession
from sidebyside.db.endpoint import endpoint_from_inventory
from sidebyside.engine.executor import StepContext
from sidebyside.engine.per_host import run_on_hosts
from sidebyside.errors import InputError
from sidebyside.inventory import ServiceControl
from sidebyside.plan.model import Step
from sidebyside.remote.factory import rooted
from sidebyside.services.catalog import ServiceInfo, service
from sidebyside.upgrade.cells import (
    new_side_urls,
    plan_cell_updates,
    read_cells,
    update_cell_mappings,
    verify_cells,
)
from sidebyside.upgrade.commands import CommandFailed, execute, render
from sidebyside.upgrade.db_sync import read_check, run_db_sync
from sidebyside.upgrade.preflight import run_preflight
from sidebyside.upgrade.upgrade_check import check_upgrade_status, require_no_failure


class NewSideAction:
    """An action on one new controller (the step's first host): its /etc, the service's
    control and the release to run (finalize's actions are ones too)."""

    def __init__(self, context: ActionContext) -> None:
        self.inventory = context.inventory
        self.hosts = context.hosts

    def _host_name(self, step: Step) -> str:
        return step.hosts[0] if step.hosts else self.inventory.new.controllers[0]

    def _etc(self, host_name: str) -> str:
        return rooted(self.inventory.hosts[host_name].root, "/etc")

    def _service(self, step: Step) -> tuple[ServiceInfo, ServiceControl]:
        if not step.service:
            raise InputError(f"step {step.id} names no service")
        control = self.inventory.new.services.get(step.service)
        if control is None:
            raise InputError(f"new.services.{step.service}: not given in the inventory")
        return service(step.service), control

    def _release(self, step: Step) -> str:
        return str(step.params.get("release") or self.inventory.release.to)


class PreflightAction:
    """`preflight`: every check; a blocker fails the step (PreflightError, exit 3)."""

    def __init__(self, context: ActionContext) -> None:
        self.inventory = context.inventory
        self.hosts = context.hosts

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        report = run_preflight(self.inventory, hosts=self.hosts, log=ctx.log)
        for r in report.results:
            if r.severity != "ok":
                ctx.log(f"{r.severity}: {r.check}: {r.subject}: {r.message}")
        report.raise_if_blocked()
        return report.to_dict()


class UpgradeCheckAction(NewSideAction):
    """`upgrade_check`: `<service>-status upgrade check --json` with the target code."""

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        info, control = self._service(step)
        name = self._host_name(step)
        report = check_upgrade_status(self.hosts(name), info,
                                      control.bin_dir_for(self.inventory.release.to),
                                      self._etc(name), ctx.log)
        accepted = frozenset(control.accept_check_failures)
        for item in report.failures:
            if item.name in accepted:
                ctx.log(f"ACCEPTED by the inventory (new.services.{info.name}."
                        f"accept_check_failures): {item.name}: {item.details}")
        require_no_failure(report, accepted)
        return report.to_dict()


class CellMappingsAction(NewSideAction):
    """Every nova cell on the new database and broker, taken from the new controller's
    nova.conf, written to the mappings on the new database server (upgrade/cells.py);
    no cell may name the old database after. The head of nova's db_sync chain."""

    def _context(self, step: Step) -> tuple[str, str | None, str]:
        if "nova" not in self.inventory.new.services:
            raise InputError("new.services.nova: not given in the inventory")
        name = self._host_name(step)
        config = f"{self._etc(name)}/{service_spec('nova').main_file.path}"
        return new_side_urls(self.hosts(name).read_file(config).decode("utf-8", "replace"),
                             f"{name}:{config}")

    def _session(self) -> TargetSession:
        return TargetSession(endpoint_from_inventory(self.inventory.new.database),
                             role="new nova_api")

    def _old_databases(self) -> list[tuple[str, int]]:
        """The old server as the inventory names it, and under every old name the
        host_map rewrites (a cell URL may use a hostname rather than the address)."""
        port = self.inventory.old.database.port
        names = [self.inventory.old.database.host, *self.inventory.host_map]
        return [(name, port) for name in dict.fromkeys(names)]

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        database_url, transport_url, api_database = self._context(step)
        with self._session() as session:
            result = update_cell_mappings(session, api_database, database_url=database_url,
                                          transport_url=transport_url,
                                          old_databases=self._old_databases(), log=ctx.log)
        return result.to_dict()

    def verify(self, step: Step, ctx: StepContext) -> bool:
        database_url, transport_url, api_database = self._context(step)
        with self._session() as session:
            cells = read_cells(session, api_database)
        if plan_cell_updates(cells, database_url=database_url, transport_url=transport_url):
            return False
        verify_cells(cells, database_url=database_url, transport_url=transport_url,
                     old_databases=self._old_databases())
        return True


class DbSyncAction(NewSideAction):
    """`db_sync`: one service's databases to one release of the path."""

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        info, control = self._service(step)
        release = self._release(step)
        name = self._host_name(step)
        result = run_db_sync(self.hosts(name), info, release, control.bin_dir_for(release),
                             self._etc(name), ctx.log)
        return result.to_dict()

    def verify(self, step: Step, ctx: StepContext) -> bool:
        """Cheap only where the service has a check (keystone, glance): rc 0."""
        info, control = self._service(step)
        check = next((s for s in info.db_sync if s.dispatch), None)
        if check is None:
            return False
        release = self._release(step)
        name = self._host_name(step)
        argv = render(check.run, {"bin": control.bin_dir_for(release).rstrip("/"),
                                  "etc": self._etc(name)})
        run = execute(self.hosts(name), argv, service=info.name, stage="verify",
                      timeout=check.timeout, log=ctx.log)
        return read_check(check, run.returncode, run.text).current


class DbSyncChainsAction(NewSideAction):
    """`db_sync_chains`: every service's databases along the release path, one chain per
    service, all chains at once (their databases are independent). A chain is the
    service's db_syncs release after release; nova's starts with its cell mappings.

    Each finished chain is journaled (engine/per_host.py): a resumed step runs only the
    chains that did not finish, each from its start (every stage is idempotent: the
    checks dispatch only what is pending, the cell update only what differs)."""

    def __init__(self, context: ActionContext) -> None:
        super().__init__(context)
        self.cells = CellMappingsAction(context)
        self.sync = DbSyncAction(context)

    def _chain(self, step: Step, ctx: StepContext, svc: str) -> dict[str, Any]:
        def prefixed(line: str) -> None:
            ctx.log(f"[{svc}] {line}")
        chain_ctx = _LogAs(ctx, prefixed)
        started = time.monotonic()
        path = [str(r) for r in step.params["path"]]
        links: list[dict[str, Any]] = []
        if svc == "nova" and step.params.get("cell_mappings"):
            cells = dataclasses.replace(step, service="nova", params={"release": path[0]})
            link_started = time.monotonic()
            result = self.cells.run(cells, chain_ctx)  # type: ignore[arg-type]
            links.append({"stage": "cell-mappings", "result": result,
                          "seconds": round(time.monotonic() - link_started, 1)})
        for release in path:
            sync = dataclasses.replace(step, service=svc, params={"release": release})
            link_started = time.monotonic()
            result = self.sync.run(sync, chain_ctx)  # type: ignore[arg-type]
            links.append({"stage": f"db-sync {release}", "result": result,
                          "seconds": round(time.monotonic() - link_started, 1)})
        seconds = round(time.monotonic() - started, 1)
        prefixed(f"chain done in {seconds:.1f}s")
        return {"seconds": seconds, "links": links}

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        """Raises StepFailed naming every chain that failed (after the others ended)."""
        chains = [str(s) for s in step.params["services"]]
        started = time.monotonic()
        results = run_on_hosts(ctx, chains, lambda svc: self._chain(step, ctx, svc),
                               max_parallel=len(chains))
        seconds = {svc: results[svc].get("seconds") for svc in chains}
        slowest = max(chains, key=lambda svc: seconds[svc] or 0.0)
        ctx.log(f"every chain done in {time.monotonic() - started:.1f}s; the slowest: "
                f"{slowest} {seconds[slowest]}s")
        return {"chains": results, "chain_seconds": seconds, "slowest_chain": slowest}


class _LogAs:
    """A StepContext whose log lines carry a chain's name (chains log at once)."""

    def __init__(self, ctx: StepContext, log: Any) -> None:
        self._ctx = ctx
        self.log = log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


DASHBOARD_SHARE = "/usr/share/openstack-dashboard"


class StaticAssetsAction(NewSideAction):
    """`build_static_assets`: the service's static_assets commands (horizon's
    collectstatic and compress) with the new release's code, on each host of the step
    in turn. Idempotent: a resumed run builds them again."""

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        """Raises CommandFailed (a command exited non-zero or timed out; its output's
        tail in the message), InputError (no such service in the inventory)."""
        info, control = self._service(step)
        release = self._release(step)
        result: dict[str, Any] = {}
        for name in step.hosts or tuple(self.inventory.new.controllers):
            values = {"bin": control.bin_dir_for(release).rstrip("/"),
                      "share": rooted(self.inventory.hosts[name].root, DASHBOARD_SHARE),
                      "etc": self._etc(name)}
            runs = []
            for command in info.static_assets:
                run = execute(self.hosts(name), render(command.run, values),
                              service=info.name, stage=command.name,
                              timeout=command.timeout, log=ctx.log)
                if run.returncode != 0:
                    raise CommandFailed(info.name, command.name,
                                        f"exited {run.returncode} on {name}",
                                        returncode=run.returncode, output_tail=run.tail)
                runs.append({"name": command.name, "seconds": round(run.seconds, 1)})
            result[name] = runs
        return {"release": release, "hosts": result}
