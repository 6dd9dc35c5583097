"""Which old controller each new controller takes its configuration from, and the
host map that carries that old controller's own address to the new one.

Pure: inventory data in, mappings out.

The rule:
- `new.counterparts` (new -> old) names a counterpart explicitly; several new
  controllers may share one old controller;
- a new controller it does not name takes the old controller at its own position
  (new.controllers[i] <- old.controllers[i]);
- a new controller with neither is refused (exit 2 naming new.counterparts): taking
  some other controller's files would carry that controller's per-host settings
  (bind_host, my_ip, memcache_servers) to it, which is the mistake this module exists
  to avoid. sbs cannot tell by itself which settings are per-host.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from sidebyside.config.translate import HostMap
from sidebyside.errors import InputError
from sidebyside.inventory import Inventory

# In a config these mean "this machine" on either side: never rewritten.
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", "::"})


def counterparts(old_controllers: Sequence[str], new_controllers: Sequence[str],
                 given: Mapping[str, str] | None = None) -> dict[str, str]:
    """new controller -> the old controller its configuration comes from.

    Raises InputError naming new.counterparts when a new controller has no
    counterpart (more new controllers than old, and the extra ones unnamed), or the
    mapping names a controller the side does not have.
    """
    given = dict(given or {})
    for new, old in sorted(given.items()):
        if new not in new_controllers:
            raise InputError(f"new.counterparts.{new}: {new!r} is not in new.controllers")
        if old not in old_controllers:
            raise InputError(f"new.counterparts.{new}: {old!r} is not in old.controllers")
    mapping: dict[str, str] = {}
    unmatched: list[str] = []
    for index, new in enumerate(new_controllers):
        if new in given:
            mapping[new] = given[new]
        elif index < len(old_controllers):
            mapping[new] = old_controllers[index]
        else:
            unmatched.append(new)
    if unmatched:
        raise InputError(
            f"new.counterparts: no old controller to take the configuration of "
            f"{', '.join(unmatched)} from ({len(new_controllers)} new controllers, "
            f"{len(old_controllers)} old): name one for each, e.g. "
            f"`counterparts: {{{unmatched[0]}: {old_controllers[0]}}}`; sbs does not "
            "guess, a wrong one would carry another host's bind address")
    return mapping


def inventory_counterparts(inventory: Inventory) -> dict[str, str]:
    """counterparts() of an Inventory. Raises InputError (see counterparts)."""
    return counterparts(list(inventory.old.controllers), list(inventory.new.controllers),
                        inventory.new.counterparts)


def per_host_map(base: HostMap, *, old_address: str, new_address: str) -> HostMap:
    """`base` (the inventory's host_map for every host) plus the old controller's own
    address -> the new controller's, for that new controller's files.

    This pair takes the place of any entry `base` has for the same address: one
    global map cannot say that old-ctl2's address becomes new-ctl2's on new-ctl2 but
    new-ctl3's on new-ctl3 when both take old-ctl2's files. Only the inventory's
    `address` (an IP or a DNS name) is mapped, never the inventory name: a name is a
    label that may also be part of paths. Loopback and wildcard addresses stay (they
    mean the machine itself on both sides).
    """
    hosts = dict(base.hosts)
    if old_address and new_address and old_address != new_address \
            and old_address.lower() not in LOCAL_NAMES:
        hosts[old_address] = new_address
    return replace(base, hosts=hosts)
