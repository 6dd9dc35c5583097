"""Smoke checks and resource snapshots through openstacksdk (adapter).

Only the inventory's services are checked: their reads, and where the caller allows
writes (cloud/writes.py) a create and delete of each one's own test resource
(cloud/own_resources.py). A service whose type has no endpoint in the cloud's catalog
(and no endpoint override) FAILS, unless the caller names it database-only (the
inventory's `<side>.services.<name>.api: false`): then its checks are skipped, saying
why.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from openstack import exceptions as os_exc

from sidebyside.cloud.checks import (
    Check,
    CheckStatus,
    Fields,
    SmokeReport,
    Snapshot,
    digest,
    normalize_snapshot,
)
from sidebyside.cloud.dashboard import check_dashboard, credentials_of
from sidebyside.cloud.own_resources import NO_OWN_RESOURCE, OWN_RESOURCES, create_and_delete
from sidebyside.cloud.writes import WriteGuard, own_resource_name
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
        # answered by cinder-scheduler over RPC (cinder/api/contrib/scheduler_stats.py
        # -> scheduler rpcapi get_pools): the scheduler consumes its queue
        ("backend pools", "block_storage.backend_pools()",
         lambda c: _count(c.block_storage.backend_pools(), "backend pools")),
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

# service -> resource type -> lister (the snapshot compared before/after cutover)
RESOURCES: dict[str, dict[str, Callable[[Conn], Iterable[Any]]]] = {
    "keystone": {"domains": lambda c: c.identity.domains(),
                 "projects": lambda c: c.identity.projects(),
                 "users": lambda c: c.identity.users(),
                 "groups": lambda c: c.identity.groups(),
                 "roles": lambda c: c.identity.roles(),
                 "role_assignments": lambda c: c.identity.role_assignments(),
                 "credentials": lambda c: c.identity.credentials(),
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


def _ref(value: Any) -> str | None:
    """The id of a reference the APIs give as an object, a dict or a bare id
    (a server's image is "" when it boots from a volume)."""
    if isinstance(value, dict):
        found = value.get("id")
    else:
        found = getattr(value, "id", value)
    return str(found) if found else None


class _Lookups:
    """Listings a resource's content needs beyond itself, made once per snapshot."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self._subnet_cidrs: dict[str, str] | None = None

    def subnet_cidr(self, subnet_id: str) -> str:
        if self._subnet_cidrs is None:
            self._subnet_cidrs = {str(s.id): str(s.cidr) for s in self.conn.network.subnets()}
        return self._subnet_cidrs.get(subnet_id, f"subnet {subnet_id}")


def _assignment_id(item: Any) -> str:
    """A role assignment has no id of its own: role, actor and scope name it."""
    actor = ("user", item.user) if item.user else ("group", item.group)
    scope = item.scope or {}
    target = next(((kind, _ref(scope[kind]) or "all") for kind in ("project", "domain",
                                                                   "system")
                   if scope.get(kind)), ("scope", "none"))
    inherited = " inherited" if scope.get("OS-INHERIT:inherited_to") else ""
    return (f"role={_ref(item.role)} {actor[0]}={_ref(actor[1])} "
            f"{target[0]}={target[1]}{inherited}")


def _addresses(server: Any) -> list[list[str]]:
    return sorted([str(net), str(entry.get("addr"))]
                  for net, entries in (server.addresses or {}).items()
                  for entry in entries or [])


def _flavor(server: Any) -> str | None:
    """Nova embeds the flavor since microversion 2.47 (its name, no id)."""
    flavor = server.flavor
    if flavor is None:
        return None
    found = _ref(flavor) or getattr(flavor, "original_name", None) or \
        getattr(flavor, "name", None)
    return str(found) if found else None


def _rules_digest(group: Any) -> str:
    keys = ("direction", "ethertype", "protocol", "port_range_min", "port_range_max",
            "remote_ip_prefix", "remote_group_id")
    return digest(sorted([[rule.get(k) for k in keys]
                          for rule in group.security_group_rules or []], key=str))


def _stack(lookups: _Lookups, stack: Any) -> Fields:
    """A listing has no outputs: the stack is read with them resolved."""
    full = lookups.conn.orchestration.get_stack(stack)
    outputs = sorted([[o.get("output_key"), o.get("output_value")]
                      for o in full.outputs or []], key=str)
    return {"status": stack.status, "outputs": digest(outputs)}


# resource type -> the fields of one listed resource that are equal on both sides by
# design (attribute names: openstacksdk's resources, openstack/identity/v3,
# image/v2, compute/v2, block_storage/v3, network/v2, orchestration/v1). Secrets
# only as a digest. A type without an entry is compared by ids.
Content = Callable[[_Lookups, Any], Fields]
CONTENT: dict[str, Content] = {
    "domains": lambda _, d: {"name": d.name, "enabled": d.is_enabled},
    "projects": lambda _, p: {"name": p.name, "domain_id": p.domain_id,
                              "enabled": p.is_enabled, "parent_id": p.parent_id},
    "users": lambda _, u: {"name": u.name, "domain_id": u.domain_id,
                           "enabled": u.is_enabled,
                           "default_project_id": u.default_project_id},
    "groups": lambda _, g: {"name": g.name, "domain_id": g.domain_id},
    "roles": lambda _, r: {"name": r.name, "domain_id": r.domain_id},
    "role_assignments": lambda _, a: {},
    "credentials": lambda _, c: {"type": c.type, "user_id": c.user_id,
                                 "project_id": c.project_id,
                                 "blob": digest(c.blob or "")},
    "services": lambda _, s: {"name": s.name, "type": s.type, "enabled": s.is_enabled},
    "endpoints": lambda _, e: {"service_id": e.service_id, "interface": e.interface,
                               "region_id": e.region_id, "url": e.url,
                               "enabled": e.is_enabled},
    "images": lambda _, i: {"name": i.name, "status": i.status, "checksum": i.checksum,
                            "os_hash_value": i.hash_value, "size": i.size,
                            "visibility": i.visibility, "disk_format": i.disk_format},
    "flavors": lambda _, f: {"name": f.name, "vcpus": f.vcpus, "ram": f.ram,
                             "disk": f.disk},
    "servers": lambda _, s: {"status": s.status, "flavor": _flavor(s),
                             "image": _ref(s.image), "addresses": _addresses(s)},
    "volumes": lambda _, v: {"size": v.size, "status": v.status,
                             "attachments": sorted(str(a.get("server_id"))
                                                   for a in v.attachments or [])},
    "networks": lambda look, n: {"name": n.name, "cidrs": sorted(
        look.subnet_cidr(str(i)) for i in n.subnet_ids or [])},
    "subnets": lambda _, s: {"cidr": s.cidr, "network_id": s.network_id},
    "ports": lambda _, p: {"network_id": p.network_id, "mac_address": p.mac_address,
                           "fixed_ips": sorted([str(ip.get("subnet_id")),
                                                str(ip.get("ip_address"))]
                                               for ip in p.fixed_ips or [])},
    "routers": lambda _, r: {"name": r.name, "external_network_id": (
        r.external_gateway_info or {}).get("network_id")},
    "security_groups": lambda _, g: {"name": g.name,
                                     "rules": len(g.security_group_rules or []),
                                     "rules_digest": _rules_digest(g)},
    "stacks": _stack,
    "resource_providers": lambda _, r: {"name": r.name,
                                        "parent_provider_id": r.parent_provider_id},
}
# resource type -> its id (default: the resource's own id)
IDS: dict[str, Callable[[Any], str]] = {"role_assignments": _assignment_id}


def endpoint_with_type(conn: Conn, service: str) -> tuple[str, str] | None:
    """(service type, endpoint) the connection would use for an inventory service (an
    endpoint override, else the catalog's), or None."""
    for service_type in SERVICE_TYPES.get(service, ()):
        try:
            url = conn.endpoint_for(service_type)
        except os_exc.SDKException:
            url = None
        if url:
            return service_type, str(url)
    return None


def endpoint_of(conn: Conn, service: str) -> str | None:
    """The endpoint the connection would use for an inventory service, or None."""
    found = endpoint_with_type(conn, service)
    return found[1] if found else None


def _error_text(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return redact(f"{type(exc).__name__}: {text[0] if text else ''}")


def _missing_endpoint(service: str, cloud: str) -> Check:
    kinds = "/".join(SERVICE_TYPES[service])
    return Check(service, "endpoint", f"endpoint_for({kinds})", "fail",
                 detail=f"no {kinds} endpoint in the catalog of cloud {cloud} (nor an "
                        f"endpoint override), though the inventory names {service}; if it "
                        "runs database-only there, say so with api: false in that side's "
                        f"services.{service}")


def _timed(service: str, name: str, call: str, check: Callable[[], str | None]) -> Check:
    started = time.monotonic()
    try:
        detail = check()
    except Exception as exc:  # noqa: BLE001 - any failure is this check's result
        return Check(service, name, call, "fail", time.monotonic() - started,
                     _error_text(exc))
    status: CheckStatus = "skip" if detail is None else "pass"
    return Check(service, name, call, status, time.monotonic() - started,
                 detail or "nothing to check")


def _write_check(conn: Conn, service: str, guard: WriteGuard) -> Check | None:
    """The service's create/delete check (None when it has no test resource): run
    where the guard lets it, else failed, saying why (a verification of the new side
    that cannot reach it for sure has not verified it)."""
    own = OWN_RESOURCES.get(service)
    if own is None:
        return None
    found = endpoint_with_type(conn, service)
    if found is None:  # keystone: logged in, yet no identity endpoint to write to
        return Check(service, own.check_name, own.call, "fail",
                     detail=f"not run: no {'/'.join(SERVICE_TYPES[service])} endpoint in "
                            "the catalog (nor an endpoint override)")
    service_type, url = found
    refusal = guard.refusal(service_type, url, bool(conn.config.get_endpoint(service_type)))
    if refusal:
        return Check(service, own.check_name, own.call, "fail", detail=f"not run: {refusal}")
    return _timed(service, own.check_name, own.call,
                  lambda: create_and_delete(conn, own, own_resource_name()))


def _dashboard_checks(conn: Conn, url: str | None, cloud: str) -> list[Check]:
    """The dashboard's login page and a login with the cloud's own credentials."""
    if url is None:
        return [Check("horizon", "login page", "GET auth/login/", "fail",
                      detail=f"no dashboard URL for cloud {cloud}, though the inventory "
                             "names horizon: give ha.dashboard_url (through the VIP) and "
                             "<side>.services.horizon.url (each side directly)")]
    return check_dashboard(url, credentials_of(dict(conn.config.config.get("auth") or {})))


def run_smoke(conn: Conn, services: Sequence[str], *, side: str, cloud: str,
              database_only: Mapping[str, str] | None = None,
              writes: WriteGuard | None = None,
              dashboard_url: str | None = None) -> SmokeReport:
    """Every smoke check of the given services; never raises for a failing check (each
    is reported with its call and error).

    `database_only`: service -> why it has no API on this cloud (the inventory's
    words): its checks are reported skipped with that detail. Any other service without
    an endpoint fails. `writes`: given only where the caller allows writes
    (cloud/writes.py write_refusal), each service's create/delete check runs too, where
    the guard lets it; never on the old side (ValueError, a caller's bug).
    `dashboard_url`: where horizon answers on this target (cloud/dashboard.py: its
    login page and a login with the cloud's credentials; it writes nothing but a
    session cookie).

    One call at a time, on purpose: a service just started loads its policy on its
    first requests, and oslo.policy's loading is not thread-safe; concurrent first
    requests to a new Keystone were seen answered 403 (identity:list_projects) while
    the rules were half loaded. A verification must not provoke that: its failure rolls
    the cutover back."""
    if writes is not None and side == "old":
        raise ValueError("smoke checks that write were asked of the old side, which sbs "
                         "never writes")
    database_only = database_only or {}
    checks: list[Check] = []
    for service in services:
        if service == "horizon":
            checks += ([Check(service, "login page", "GET auth/login/", "skip",
                              detail=database_only[service])] if service in database_only
                       else _dashboard_checks(conn, dashboard_url, cloud))
            continue
        if service not in SMOKE_CHECKS:
            continue
        if service in database_only:
            checks += [Check(service, name, call, "skip", detail=database_only[service])
                       for name, call, _ in SMOKE_CHECKS[service]]
            continue
        if service != "keystone" and endpoint_of(conn, service) is None:
            checks.append(_missing_endpoint(service, cloud))
            continue
        first = len(checks)
        for name, call, check in SMOKE_CHECKS[service]:
            checks.append(_timed(service, name, call, functools.partial(check, conn)))
        if writes is None:
            continue
        why_not = NO_OWN_RESOURCE.get(service)
        if why_not:  # said where a create would have run, on its first read
            checks[first] = replace(checks[first], detail=f"{checks[first].detail}; {why_not}")
        written = _write_check(conn, service, writes)
        if written is not None:
            checks.append(written)
    return SmokeReport(side=side, cloud=cloud, checks=tuple(checks))


def snapshot(conn: Conn, services: Sequence[str]) -> Snapshot:
    """`{resource type: {id: {field: value}}}` of the given services (JSON-able; the
    fields are CONTENT's).

    Services without an endpoint in the catalog are left out. Raises
    VerificationError naming the call that failed.
    """
    raw: dict[str, dict[str, Fields]] = {}
    lookups = _Lookups(conn)
    for service in services:
        listers = RESOURCES.get(service)
        if not listers or (service != "keystone" and endpoint_of(conn, service) is None):
            continue
        for kind, lister in listers.items():
            id_of = IDS.get(kind, lambda item: str(item.id))
            content = CONTENT.get(kind, lambda _, item: {})
            try:
                raw[kind] = {id_of(item): content(lookups, item) for item in lister(conn)}
            except Exception as exc:  # noqa: BLE001 - reported with the failing call
                raise VerificationError(f"listing {kind} ({service}) failed: "
                                        f"{_error_text(exc)}") from None
    return normalize_snapshot(raw)
