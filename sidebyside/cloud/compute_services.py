"""Nova's compute services as the control plane sees them (os-services): adapter over
openstacksdk, read-only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ComputeService:
    """One nova-compute as registered: `state` is nova's servicegroup view (up while its
    heartbeats arrive), `updated_at` the last heartbeat the control plane recorded."""

    host: str
    state: str
    status: str
    updated_at: str | None
    forced_down: bool = False

    @property
    def up(self) -> bool:
        return self.state == "up" and not self.forced_down


def compute_services(conn: Any) -> dict[str, ComputeService]:
    """Every nova-compute the cloud behind `conn` knows, by host."""
    found: dict[str, ComputeService] = {}
    for svc in conn.compute.services(binary="nova-compute"):
        found[svc.host] = ComputeService(
            host=svc.host, state=str(svc.state), status=str(svc.status),
            updated_at=str(svc.updated_at) if svc.updated_at else None,
            forced_down=bool(getattr(svc, "is_forced_down", False)))
    return found


def set_compute_enabled(conn: Any, host: str, *, enabled: bool, reason: str | None = None
                        ) -> None:
    """Enable or disable (with `reason`) the nova-compute of `host`. Raises LookupError
    when the cloud has none there."""
    found = list(conn.compute.services(binary="nova-compute", host=host))
    if not found:
        raise LookupError(f"no nova-compute registered on host {host}")
    for svc in found:
        if enabled:
            conn.compute.enable_service(svc)
        else:
            conn.compute.disable_service(svc, disabled_reason=reason)


def hypervisor_names(conn: Any) -> list[str]:
    """The hypervisors' names (one per compute node), sorted."""
    return sorted(str(h.name) for h in conn.compute.hypervisors())


def resource_provider_ids(conn: Any) -> list[str]:
    """The placement resource providers' ids, sorted."""
    return sorted(str(rp.id) for rp in conn.placement.resource_providers())
