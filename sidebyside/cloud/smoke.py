"""Smoke checks and resource snapshots through openstacksdk (adapter).

Only the inventory's services are checked. A service whose type has no endpoint in
the cloud's catalog (and no endpoint override) is reported as skipped: the lab, for
one, installs nova database-only.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from openstack import exceptions as os_exc

from sidebyside.cloud.checks import Check, CheckStatus, SmokeReport, Snapshot, normalize_snapshot
from sidebyside.errors import VerificationError
from sidebyside.redact import redact

# inventory service -> catalog service type(s), first match wins
SERVICE_TYPES: dict[str, tuple[str, ...]] = {
    "keystone": ("identity",), "glance": ("image",), "nova": ("compute",),
    "neutron": ("network",), "cinder": ("block-storage", "volumev3"),
    "heat": ("orchestration",), "placement": ("placement",),
}
# The image whose download is checksummed is the smallest active one, up to this size.
MAX_DOWNLOAD_BYTES = 64 * 2**20

Conn = Any  # openstack.connection.Connection; its proxies are dynamically typed


def _count(items: Iterable[Any], noun: str) -> str:
    return f"{sum(1 for _ in items)} {noun}"


def _catalog(conn: Conn) -> str:
    response = conn.identity.get("/auth/catalog")
    os_exc.raise_from_response(response)
    types = sorted({entry.get("type", "?") for entry in response.json().get("catalog", [])})
    return f"{len(types)} services: {', '.join(types)}"


def _token(conn: Conn) -> str:
    conn.session.auth.invalidate()  # a fresh token, not the cached one
    token = conn.session.get_token()
    return "issued" if token else "no token"


def _image_checksum(conn: Conn) -> str | None:
    """Download the smallest active image and compare its checksums with glance's.
    None (skip) when there is no image small enough."""
    candidates = [i for i in conn.image.images() if i.status == "active"
                  and i.size is not None and i.size <= MAX_DOWNLOAD_BYTES]
    if not candidates:
        return None
    image = min(candidates, key=lambda i: (i.size, i.id))
    md5 = hashlib.md5()  # noqa: S324 - glance's own `checksum` is an md5
    multihash = hashlib.new(image.hash_algo) if image.hash_algo else None
    response = conn.image.download_image(image, stream=True)
    size = 0
    for chunk in response.iter_content(chunk_size=65536):
        md5.update(chunk)
        if multihash:
            multihash.update(chunk)
        size += len(chunk)
    if image.checksum and md5.hexdigest() != image.checksum:
        raise VerificationError(f"image {image.id}: downloaded md5 {md5.hexdigest()} "
                                f"!= glance checksum {image.checksum}")
    if multihash and image.hash_value and multihash.hexdigest() != image.hash_value:
        raise VerificationError(f"image {image.id}: downloaded {image.hash_algo} differs "
                                "from glance's os_hash_value")
    if size != image.size:
        raise VerificationError(f"image {image.id}: downloaded {size} bytes, glance "
                                f"says {image.size}")
    return f"image {image.name or image.id} ({size} bytes): checksums match"


# service -> [(check name, the call as the report shows it, the check)]
SmokeCall = Callable[[Conn], "str | None"]
SMOKE_CHECKS: dict[str, list[tuple[str, str, SmokeCall]]] = {
    "keystone": [
        ("token", "POST /v3/auth/tokens", _token),
        ("catalog", "GET /v3/auth/catalog", _catalog),
        ("projects", "identity.projects()", lambda c: _count(c.identity.projects(), "projects")),
        ("users", "identity.users()", lambda c: _count(c.identity.users(), "users")),
        ("roles", "identity.roles()", lambda c: _count(c.identity.roles(), "roles")),
        ("groups", "identity.groups()", lambda c: _count(c.identity.groups(), "groups")),
    ],
    "glance": [
        ("images", "image.images()", lambda c: _count(c.image.images(), "images")),
        ("image download", "image.download_image(smallest)", _image_checksum),
    ],
    "nova": [
        ("flavors", "compute.flavors()", lambda c: _count(c.compute.flavors(), "flavors")),
        ("servers", "compute.servers(all_projects=True)",
         lambda c: _count(c.compute.servers(all_projects=True), "servers")),
    ],
    "neutron": [
        ("networks", "network.networks()", lambda c: _count(c.network.networks(), "networks")),
        ("subnets", "network.subnets()", lambda c: _count(c.network.subnets(), "subnets")),
        ("ports", "network.ports()", lambda c: _count(c.network.ports(), "ports")),
    ],
    "cinder": [
        ("volumes", "block_storage.volumes(all_projects=True)",
         lambda c: _count(c.block_storage.volumes(all_projects=True), "volumes")),
    ],
    "heat": [
        ("stacks", "orchestration.stacks()",
         lambda c: _count(c.orchestration.stacks(), "stacks")),
    ],
    "placement": [
        ("resource providers", "placement.resource_providers()",
         lambda c: _count(c.placement.resource_providers(), "resource providers")),
    ],
}

# service -> resource type -> ids lister (the snapshot compared before/after cutover)
RESOURCES: dict[str, dict[str, Callable[[Conn], Iterable[Any]]]] = {
    "keystone": {"domains": lambda c: c.identity.domains(),
                 "projects": lambda c: c.identity.projects(),
                 "users": lambda c: c.identity.users(),
                 "groups": lambda c: c.identity.groups(),
                 "roles": lambda c: c.identity.roles(),
                 "services": lambda c: c.identity.services(),
                 "endpoints": lambda c: c.identity.endpoints()},
    "glance": {"images": lambda c: c.image.images()},
    "nova": {"flavors": lambda c: c.compute.flavors(),
             "servers": lambda c: c.compute.servers(all_projects=True)},
    "neutron": {"networks": lambda c: c.network.networks(),
                "subnets": lambda c: c.network.subnets(),
                "ports": lambda c: c.network.ports(),
                "routers": lambda c: c.network.routers(),
                "security_groups": lambda c: c.network.security_groups()},
    "cinder": {"volumes": lambda c: c.block_storage.volumes(all_projects=True)},
    "heat": {"stacks": lambda c: c.orchestration.stacks()},
    "placement": {"resource_providers": lambda c: c.placement.resource_providers()},
}


def endpoint_of(conn: Conn, service: str) -> str | None:
    """The endpoint the connection would use for an inventory service, or None."""
    for service_type in SERVICE_TYPES.get(service, ()):
        try:
            url = conn.endpoint_for(service_type)
        except os_exc.SDKException:
            url = None
        if url:
            return str(url)
    return None


def _error_text(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return redact(f"{type(exc).__name__}: {text[0] if text else ''}")


def run_smoke(conn: Conn, services: Sequence[str], *, side: str, cloud: str) -> SmokeReport:
    """Every smoke check of the given services; never raises for a failing check (each
    is reported with its call and error).

    One call at a time, on purpose: a service just started loads its policy on its
    first requests, and oslo.policy's loading is not thread-safe; concurrent first
    requests to a new Keystone were seen answered 403 (identity:list_projects) while
    the rules were half loaded. A verification must not provoke that: its failure rolls
    the cutover back."""
    checks: list[Check] = []
    for service in services:
        if service not in SMOKE_CHECKS:
            continue  # horizon has no API to smoke
        if service != "keystone" and endpoint_of(conn, service) is None:
            kinds = "/".join(SERVICE_TYPES[service])
            checks += [Check(service, name, call, "skip",
                             detail=f"no {kinds} endpoint in the catalog of {cloud}")
                       for name, call, _ in SMOKE_CHECKS[service]]
            continue
        for name, call, check in SMOKE_CHECKS[service]:
            started = time.monotonic()
            try:
                detail = check(conn)
            except Exception as exc:  # noqa: BLE001 - any failure is this check's result
                checks.append(Check(service, name, call, "fail",
                                    time.monotonic() - started, _error_text(exc)))
                continue
            status: CheckStatus = "skip" if detail is None else "pass"
            checks.append(Check(service, name, call, status, time.monotonic() - started,
                                detail or "nothing to check"))
    return SmokeReport(side=side, cloud=cloud, checks=tuple(checks))


def snapshot(conn: Conn, services: Sequence[str]) -> Snapshot:
    """`{resource type: sorted ids}` of the given services (JSON-able).

    Services without an endpoint in the catalog are left out. Raises
    VerificationError naming the call that failed.
    """
    raw: dict[str, list[str]] = {}
    for service in services:
        listers = RESOURCES.get(service)
        if not listers or (service != "keystone" and endpoint_of(conn, service) is None):
            continue
        for kind, lister in listers.items():
            try:
                raw[kind] = [str(item.id) for item in lister(conn)]
            except Exception as exc:  # noqa: BLE001 - reported with the failing call
                raise VerificationError(f"listing {kind} ({service}) failed: "
                                        f"{_error_text(exc)}") from None
    return normalize_snapshot(raw)
