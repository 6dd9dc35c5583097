"""`migrate_config`: one service's configuration and key repositories, old -> new.

Collected from the first old controller (only read), translated with the new
release's own option metadata, written to every new controller in parallel. At
cutover the same step runs again and reports what changed on the old side since
prepare (the config delta).
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any

from sidebyside.actions.hosts import Hosts
from sidebyside.config.migrate import Side, host_map_for, migrate_service_config
from sidebyside.engine.executor import StepContext
from sidebyside.engine.fleet import run_on_hosts
from sidebyside.inventory import Inventory
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


class ConfigAction:
    def __init__(self, inventory: Inventory, hosts: Hosts, state_dir: Path) -> None:
        self.inventory = inventory
        self.hosts = hosts
        self.state_dir = state_dir

    def _old_side(self, service: str) -> Side:
        inv = self.inventory
        name = inv.old.controllers[0]
        host = self.hosts(name)
        control = inv.old.services[service]
        old_bin = control.bin_dir_for(inv.release.from_)
        # The old release's defaults make a better report, but only if its generator
        # is there: the old controller is read, never changed to suit us.
        has_generator = host.exists(posixpath.join(old_bin, "oslo-config-generator"))
        return Side(host=host, root=inv.hosts[name].root,
                    venv_bin=old_bin if has_generator else None)

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        inv = self.inventory
        service = step.service
        assert service is not None
        old = self._old_side(service)
        control = inv.new.services[service]
        host_map = host_map_for(inv)

        def on_host(name: str) -> dict[str, Any]:
            new = Side(host=self.hosts(name), root=inv.hosts[name].root,
                       venv_bin=control.bin_dir_for(inv.release.to))
            result = migrate_service_config(service, inv.release.from_, inv.release.to,
                                             old=old, new=new, host_map=host_map)
            return result.to_dict()

        results = run_on_hosts(ctx, list(step.hosts), on_host)
        first = results[step.hosts[0]]
        report = first["translation"]
        for file in report["files"]:
            summary = ", ".join(f"{v} {k}" for k, v in file["summary"].items() if v)
            ctx.log(f"{file['path']}: {summary or 'unchanged'}")
        for path in first["review"]:
            ctx.log(f"REVIEW: {path} was copied as is; an operator must check it")
        outcome: dict[str, Any] = {"service": service, "hosts": sorted(results),
                                   "files": len(first["written"].get("entries", [])),
                                   "translation": report, "review": first["review"]}
        if step.params.get("delta"):
            delta = config_delta(ctx.fact(manifest_fact(service)), first["collected"])
            for line in delta:
                ctx.log(f"since prepare: {line}")
            outcome["delta_since_prepare"] = delta
        else:
            ctx.set_fact(manifest_fact(service), first["collected"])
        return outcome
