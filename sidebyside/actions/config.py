"""`migrate_config`: the services' configuration and key repositories, old -> new.

Each new controller takes the files of its own old counterpart (`new.counterparts`,
else the old controller at its position: config.counterparts), collected there
(only read), translated with the new release's own option metadata and a host map
that carries that counterpart's address to this new controller's, written to it;
the services and the new controllers in parallel (each translation runs the
releases' oslo-config-generator: importing a service costs seconds). At cutover the
same step runs again and reports, per controller, what changed on its counterpart
since prepare (the config delta).
"""

from __future__ import annotations

import posixpath
from typing import Any

from sidebyside.actions.context import ActionContext
from sidebyside.config.counterparts import inventory_counterparts, per_host_map
from sidebyside.config.migrate import Side, host_map_for, migrate_service_config
from sidebyside.engine.executor import StepContext
from sidebyside.engine.per_host import run_on_hosts
from sidebyside.plan.model import Step


def manifest_fact(service: str) -> str:
    return f"config.{service}.collected"


def config_delta(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """Paths added, removed or changed between two collected manifests. Pure."""
    if before is None:
        return []

    def by_path(manifest: dict[str, Any]) -> dict[str, str | None]:
        return {e["path"]: e.get("sha256") for e in manifest.get("entries", [])}

    old, new = by_path(before), by_path(after)
    changes = [f"added {p}" for p in sorted(set(new) - set(old))]
    changes += [f"removed {p}" for p in sorted(set(old) - set(new))]
    changes += [f"changed {p}" for p in sorted(set(old) & set(new)) if old[p] != new[p]]
    return changes


def collected_at_prepare(fact: dict[str, Any] | None, new_host: str) -> dict[str, Any] | None:
    """The manifest prepare collected for new_host's counterpart. The fact is
    {"hosts": {new host: manifest}}; a fact from before per-host configs (one manifest,
    of the first old controller) stands for every host. Pure."""
    if fact is None:
        return None
    if "hosts" in fact:
        return fact["hosts"].get(new_host)  # type: ignore[no-any-return]
    return fact


def per_host_delta(fact: dict[str, Any] | None,
                   collected: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """new host -> what changed on its counterpart since prepare. Pure."""
    return {host: config_delta(collected_at_prepare(fact, host), manifest)
            for host, manifest in sorted(collected.items())}


class ConfigAction:
    def __init__(self, context: ActionContext) -> None:
        self.inventory = context.inventory
        self.hosts = context.hosts
        self.state_dir = context.state_dir

    def _old_side(self, service: str, name: str) -> Side:
        inv = self.inventory
        host = self.hosts(name)
        control = inv.old.services[service]
        old_bin = control.bin_dir_for(inv.release.from_)
        # The old release's defaults make a better report, but only if its generator
        # is there: the old controller is read, never changed to suit us.
        has_generator = host.exists(posixpath.join(old_bin, "oslo-config-generator"))
        return Side(host=host, root=inv.hosts[name].root,
                    venv_bin=old_bin if has_generator else None)

    @staticmethod
    def services_of(step: Step) -> list[str]:
        """The step's service, or its `services` (every one carried in one step)."""
        if step.service:
            return [step.service]
        return [str(s) for s in step.params["services"]]

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        """One service's outcome when the step names one; else {"services": {service:
        outcome}}. Raises StepFailed naming every service and host that failed."""
        inv = self.inventory
        services = self.services_of(step)
        counterpart = inventory_counterparts(inv)  # InputError before any host is touched
        base_map = host_map_for(inv)
        pairs = {f"{service}@{name}": (service, name)
                 for service in services for name in step.hosts}

        def on_pair(key: str) -> dict[str, Any]:
            service, name = pairs[key]
            old_name = counterpart[name]
            old = self._old_side(service, old_name)
            new = Side(host=self.hosts(name), root=inv.hosts[name].root,
                       venv_bin=inv.new.services[service].bin_dir_for(inv.release.to))
            host_map = per_host_map(base_map, old_address=inv.hosts[old_name].address,
                                    new_address=inv.hosts[name].address)
            result = migrate_service_config(service, inv.release.from_, inv.release.to,
                                             old=old, new=new, host_map=host_map)
            return {**result.to_dict(), "counterpart": old_name}

        results = run_on_hosts(ctx, list(pairs), on_pair)
        outcomes = {service: self._outcome(
            service, {name: results[f"{service}@{name}"] for name in step.hosts}, step, ctx)
            for service in services}
        if step.service:
            return outcomes[step.service]
        return {"services": outcomes}

    def _outcome(self, service: str, results: dict[str, dict[str, Any]], step: Step,
                 ctx: StepContext) -> dict[str, Any]:
        several = len(results) > 1
        for host in step.hosts:
            result = results[host]
            prefix = f"{host} (from {result.get('counterpart', '?')}): " if several else ""
            for file in result["translation"]["files"]:
                summary = ", ".join(f"{v} {k}" for k, v in file["summary"].items() if v)
                ctx.log(f"{prefix}{file['path']}: {summary or 'unchanged'}")
        first = results[step.hosts[0]]
        for path in first["review"]:
            ctx.log(f"REVIEW: {path} was copied as is; an operator must check it")
        collected = {host: results[host]["collected"] for host in step.hosts}
        outcome: dict[str, Any] = {
            "service": service, "hosts": sorted(results),
            "counterparts": {h: results[h].get("counterpart") for h in sorted(results)},
            "files": len(first["written"].get("entries", [])),
            "translation": first["translation"], "review": first["review"],
            # each host's own translation differs in its per-host values: the diffs
            "diffs": {h: {f["path"]: f["diff"] for f in results[h]["translation"]["files"]}
                      for h in sorted(results)}}
        if step.params.get("delta"):
            delta = per_host_delta(ctx.fact(manifest_fact(service)), collected)
            for host, lines in delta.items():
                for line in lines:
                    source = results[host].get("counterpart", host)
                    ctx.log(f"since prepare, on {source} (for {host}): {line}")
            outcome["delta_since_prepare"] = sorted(
                {line for lines in delta.values() for line in lines})
            outcome["delta_by_host"] = delta
        else:
            ctx.set_fact(manifest_fact(service), {"hosts": collected})
        return outcome
