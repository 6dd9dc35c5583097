"""What a run depends on in the inventory, kept with the run so a resume can check it.

A run's done steps were done against one inventory: these databases, these hosts, these
releases and services, these controllers, these HAProxy backends and VIP. Resuming it
after an edit that changed any of them would finish the work against something else (a
copy made from one server, db_sync run on another), so the resume is refused, naming
each field that changed.

One fingerprint per run, a flat mapping from inventory field to its value: every step
of prepare, cutover and rollback depends on some of these, and a field-by-field
comparison names exactly what changed. Only names, addresses, ports and users are kept:
never a password, nor where one is read from; and everything is redacted anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from sidebyside.redact import redact

if TYPE_CHECKING:
    from sidebyside.inventory import Inventory

Fingerprint = dict[str, str]

_ABSENT = "(none)"


def _listed(values: list[str]) -> str:
    return "[" + ", ".join(values) + "]"


def inventory_fingerprint(inventory: Inventory) -> Fingerprint:
    """The inventory fields the steps of a run depend on, as `field -> value` text."""
    fields: Fingerprint = {
        "release.from": inventory.release.from_,
        "release.to": inventory.release.to,
        "release.via": _listed(inventory.release.via),
        "services": _listed(inventory.services),
    }
    for side_name in ("old", "new"):
        side = getattr(inventory, side_name)
        database = side.database
        fields[f"{side_name}.controllers"] = _listed(side.controllers)
        fields[f"{side_name}.database.host"] = database.host
        fields[f"{side_name}.database.port"] = str(database.port)
        fields[f"{side_name}.database.user"] = database.user
        if database.socket:
            fields[f"{side_name}.database.socket"] = database.socket
    # Which old controller's configuration each new one receives (empty: by position).
    for new_host, old_host in sorted(inventory.new.counterparts.items()):
        fields[f"new.counterparts.{new_host}"] = old_host
    # Where the cutover moves traffic: a half-switched cutover resumed against other
    # backends or another VIP would leave both sides serving.
    haproxy, keepalived = inventory.ha.haproxy, inventory.ha.keepalived
    if haproxy is not None:
        fields["ha.haproxy.nodes"] = _listed([node.host for node in haproxy.nodes])
        for service, backend in sorted(haproxy.backends.items()):
            fields[f"ha.haproxy.backends.{service}.backend"] = backend.backend
            fields[f"ha.haproxy.backends.{service}.old"] = _listed(backend.old)
            fields[f"ha.haproxy.backends.{service}.new"] = _listed(backend.new)
    if keepalived is not None:
        fields["ha.keepalived.instance"] = keepalived.instance
        fields["ha.keepalived.vip"] = keepalived.vip
        fields["ha.keepalived.old"] = _listed(keepalived.old)
        fields["ha.keepalived.new"] = _listed(keepalived.new)
    for name, host in sorted(inventory.hosts.items()):
        fields[f"hosts.{name}.address"] = host.address
        fields[f"hosts.{name}.transport"] = host.transport
        if host.netns:
            fields[f"hosts.{name}.netns"] = host.netns
        if host.ssh.user:
            fields[f"hosts.{name}.ssh.user"] = host.ssh.user
        if host.ssh.port:
            fields[f"hosts.{name}.ssh.port"] = str(host.ssh.port)
    return {field: redact(value) for field, value in fields.items()}


def fingerprint_changes(recorded: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """`field: before -> after` for every field that differs (added or gone included)."""
    return [f"{field}: {recorded.get(field, _ABSENT)} -> {current.get(field, _ABSENT)}"
            for field in sorted(set(recorded) | set(current))
            if recorded.get(field) != current.get(field)]
