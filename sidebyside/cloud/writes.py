"""Where verification may write: the one decision, and the guard of each write (pure).

Verification's create/delete checks (cloud/own_resources.py) make a test resource of
their own and delete it at once, so that a service is seen taking a write, not only
answering reads. They run only on the NEW side: the old side is never written.

`write_refusal` is the one place that decides it for a target, from what the caller
knows (the side it verifies; for the VIP, which side it serves and whether it lets
writes through). `WriteGuard` then checks, service by service, that the endpoint a
connection would write to is not a place of the old side: a clouds.yaml entry for the
new side without an endpoint override reaches the catalog's URL, and the new side's
catalog is a copy of the old one's (typically the VIP, which serves the old side until
the cutover).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sidebyside.inventory import normal_address

# Every test resource is named so; an operator finding one left over knows whose it is.
OWN_RESOURCE_PREFIX = "sbs-verify-"


def own_resource_name() -> str:
    """`sbs-verify-` and 8 random hex digits (short enough for every service's names)."""
    return OWN_RESOURCE_PREFIX + secrets.token_hex(4)


def write_refusal(target: str, *, vip_serves: str | None = None,
                  vip_takes_writes: bool = False) -> str | None:
    """None when verification may create and delete its own test resources on `target`
    (old, new or vip), else why not (for the report).

    Only the new side is ever written: directly, or through the VIP while the VIP
    serves the new side (`vip_serves`, as the caller knows it: the step's `expect`, the
    journal's last cutover) and lets writes through (`vip_takes_writes`: not inside a
    cutover's read-only window). Never the old side; never a VIP that serves the old
    side (before a cutover, after a rollback) or whose side is not known."""
    if target == "new":
        return None
    if target == "old":
        return "the old side: sbs never writes it"
    if target != "vip":
        return f"unknown target {target!r}"
    if vip_serves == "old":
        return "the VIP serves the old side, which sbs never writes"
    if vip_serves != "new":
        return ("the VIP is not known to serve the new side (no finished cutover that no "
                "rollback followed): the old side may be behind it")
    if not vip_takes_writes:
        return "the VIP refuses writes (the cutover's read-only window)"
    return None


@dataclass(frozen=True)
class WriteGuard:
    """Service by service, whether a create/delete check may go where the connection
    would send it, on a target `write_refusal` allowed.

    `forbidden_hosts`: host -> what it is (an old controller, a host the old side's or,
    for a direct target, the VIP's clouds.yaml entry names): no write goes there.
    `direct`: the target is a side's cloud reached directly, whose catalog URLs are the
    old side's too (the keystone database is a copy), so only an endpoint override
    reaches the new controllers for sure."""

    cloud: str
    direct: bool
    forbidden_hosts: Mapping[str, str] = field(default_factory=dict)

    def refusal(self, service_type: str, url: str, overridden: bool) -> str | None:
        """None when a write to `url` (the endpoint of `service_type`, `overridden`
        when it is clouds.yaml's endpoint override, not the catalog's) may go ahead."""
        try:
            host = normal_address(urlsplit(url).hostname or "")
        except ValueError:
            return f"cloud {self.cloud} reaches {service_type} at {url!r}: not a URL"
        if host in self.forbidden_hosts:
            return (f"cloud {self.cloud} reaches {service_type} at {url}, on "
                    f"{self.forbidden_hosts[host]}: sbs never writes there")
        if self.direct and not overridden:
            key = service_type.replace("-", "_")
            return (f"cloud {self.cloud} has no {key}_endpoint_override: it reaches "
                    f"{service_type} at the catalog's URL {url}, which the old side's "
                    "catalog names too; set the override to the new controller's URL")
        return None
