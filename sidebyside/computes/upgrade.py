"""A compute node upgraded in place under the new control plane (`sbs computes
upgrade`), and what the control plane must show before and after. Effects come in
(`NodeEffects`: the API, the operator's automation, the node's services, the new
side's service records), so the order is testable without a cloud.

The procedure of one node:

    1. its nova-compute disabled in the new control plane, with a reason (the
       scheduler sends nothing there; its instances keep running)
    2. its services stopped, and its last heartbeat read (a stopped service's record
       no longer changes: a later heartbeat is the upgraded one's)
    3. the operator's automation upgrades it (a playbook limited to the node, or a
       command)
    4. its services started
    5. it must report again, up, with a heartbeat after the restart AND the service
       version of the release it was upgraded to, within `register_timeout`
    6. enabled again

Every step is one an operator may repeat, so a node interrupted anywhere (a crash, a
kill) is done again from step 1 when the run resumes; nodes already done are not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sidebyside.cloud.compute_services import ComputeService
from sidebyside.computes.follow import wait_registered
from sidebyside.computes.versions import RegisteredCompute, releases_of
from sidebyside.errors import VerificationError

DISABLED_REASON = "sbs computes upgrade: upgrading to {release}"


@dataclass(frozen=True)
class NodeEffects:
    """What upgrading one node does to the world, one callable per effect."""

    disable: Callable[[str], None]               # reason
    stop: Callable[[], list[str]]                # the services stopped
    heartbeat: Callable[[], ComputeService | None]
    upgrade: Callable[[], dict[str, Any]]        # the automation's result
    start: Callable[[], list[str]]
    version: Callable[[], int | None]            # as the new side's services table has it
    enable: Callable[[], None]


@dataclass
class NodeUpgraded:
    """What upgrading one node did (the journal's record: no values)."""

    node: str
    release: str
    version: int | None = None
    heartbeat: str | None = None
    automation: dict[str, Any] = field(default_factory=dict)
    restarted: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "release": self.release, "version": self.version,
                "heartbeat": self.heartbeat, "automation": self.automation,
                "restarted": self.restarted}


def upgrade_node(node: str, effects: NodeEffects, *, release: str, target_version: int,
                 timeout: float, log: Callable[[str], None],
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> NodeUpgraded:
    """Steps 1-6 on one node. Raises what the effects raise (StepFailed from the
    automation) and VerificationError when the node does not come back at
    `target_version` in time; the node is then left disabled (nothing is scheduled to
    a node in an unknown state)."""
    done = NodeUpgraded(node=node, release=release)
    effects.disable(DISABLED_REASON.format(release=release))
    log(f"{node}: nova-compute disabled in the new control plane")
    done.restarted = effects.stop()
    seen = effects.heartbeat()
    before = seen.updated_at if seen else None
    done.automation = effects.upgrade()
    effects.start()

    def version_missing() -> str | None:
        version = effects.version()
        return None if version == target_version else (
            f"service version {version if version is not None else 'unknown'}, "
            f"{release}'s is {target_version}")

    registered = wait_registered(effects.heartbeat, before, node=node, timeout=timeout,
                                 clock=clock, sleep=sleep, also=version_missing,
                                 where=f"the new control plane at {release}")
    done.heartbeat = registered.updated_at
    done.version = target_version
    log(f"{node}: nova-compute up at service version {target_version} ({release}), "
        f"heartbeat {registered.updated_at}")
    effects.enable()
    log(f"{node}: nova-compute enabled")
    return done


@dataclass(frozen=True)
class ComputePicture:
    """What the control plane shows of its compute nodes: compute services by host,
    the hypervisors' names and the resource providers' ids."""

    services: dict[str, ComputeService]
    hypervisors: tuple[str, ...]
    resource_providers: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"services": {h: {"state": s.state, "status": s.status}
                             for h, s in sorted(self.services.items())},
                "hypervisors": list(self.hypervisors),
                "resource_providers": list(self.resource_providers)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ComputePicture:
        return cls(services={h: ComputeService(host=h, state=s["state"], status=s["status"],
                                               updated_at=None)
                             for h, s in data.get("services", {}).items()},
                   hypervisors=tuple(data.get("hypervisors", ())),
                   resource_providers=tuple(data.get("resource_providers", ())))


def compare_pictures(before: ComputePicture, after: ComputePicture,
                     registered: Iterable[RegisteredCompute], *, release: str,
                     target_version: int, versions: dict[str, int]) -> list[str]:
    """What differs after the rolling upgrade, each a sentence (empty: nothing): every
    compute service up and enabled, the same hypervisors and resource providers as
    before, and every registered nova-compute at the target's service version. Pure."""
    problems = []
    for host in sorted(set(before.services) | set(after.services)):
        now = after.services.get(host)
        if now is None:
            problems.append(f"compute {host} is no longer registered")
        elif not now.up or now.status != "enabled":
            problems.append(f"compute {host} is {now.state}, {now.status}")
    for what, old, new in (("hypervisors", before.hypervisors, after.hypervisors),
                           ("resource providers", before.resource_providers,
                            after.resource_providers)):
        gone, added = sorted(set(old) - set(new)), sorted(set(new) - set(old))
        if gone or added:
            problems.append(f"{what} changed: {len(old)} before, {len(new)} after"
                            + (f"; gone: {', '.join(gone)}" if gone else "")
                            + (f"; new: {', '.join(added)}" if added else ""))
    for compute in sorted(registered, key=lambda c: c.host):
        if compute.binary == "nova-compute" and compute.version != target_version:
            runs = releases_of(compute.version, versions)
            problems.append(f"compute {compute.host} runs service version {compute.version}"
                            + (f" ({', '.join(runs)})" if runs else "")
                            + f", not {release}'s {target_version}")
    return problems


def old_services(registered: Iterable[RegisteredCompute], target_version: int
                 ) -> list[RegisteredCompute]:
    """nova services still older than the target release (finalize refuses while any
    is registered). Pure."""
    return sorted((c for c in registered if c.version < target_version),
                  key=lambda c: (c.host, c.binary))


def require_target_version(versions: dict[str, int], release: str) -> int:
    """The nova service version of `release`. Raises VerificationError when the
    catalog does not know it (nothing could prove a node upgraded)."""
    if release not in versions:
        raise VerificationError(f"sbs's catalog does not know nova {release}'s service "
                                "version (services/catalog.yaml nova.compute_service)")
    return versions[release]
