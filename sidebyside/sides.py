"""Prove that the old and the new side are different, by identity, never by name.

sbs promises never to write the old side, and every step that writes is aimed at "the
new side" as the inventory names it. A name proves nothing: one machine reached as
`ctl1` and as `10.0.0.11`, a database server as `127.0.0.1` and `localhost`, one
RabbitMQ vhost given to both sides. So before the first change of any run (and in
`sbs check`) the sides are proven apart:

- controllers by `/etc/machine-id` under each host's root, read through the host (the
  ssh host keys under `/etc/ssh` where the machine id is unreadable), for every pair of
  an old and a new controller;
- database servers by `sidebyside.db.identity.require_distinct_servers`;
- the message bus: a new side whose services start RPC workers (a catalog fact) must
  not be on the old side's broker and vhost, or its workers would answer the live
  cloud's calls and write into the copy.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from sidebyside.errors import InputError, PreflightError, SbsError
from sidebyside.inventory import BrokerModel, Inventory, normal_address
from sidebyside.remote.base import Host, RemoteError
from sidebyside.remote.factory import rooted
from sidebyside.services.catalog import service

HostFactory = Callable[[str], Host]
MACHINE_ID = "/etc/machine-id"
# The ssh host keys a machine may have; their public halves are world-readable.
HOST_KEY_TYPES = ("ed25519", "ecdsa", "rsa", "dsa")
_MACHINE_ID_FORMAT = re.compile(r"^[0-9a-f]{32}$")


class SameMachineError(InputError):
    """An old and a new controller are one machine (exit 2)."""

    kind = "same-machine"


class SharedBusError(PreflightError):
    """The new side's RPC workers would run on the old side's broker and vhost (exit 3)."""

    kind = "shared-message-bus"


# -- controllers ------------------------------------------------------------------


@dataclass(frozen=True)
class MachineIdentity:
    """What one inventory host says it is: its machine id, else its ssh host keys."""

    host: str
    machine_id: str | None
    host_keys: frozenset[str] = frozenset()  # "type base64" of each public host key

    def describe(self) -> str:
        if self.machine_id:
            return f"machine-id {abbreviate(self.machine_id)}"
        return f"ssh host key {', '.join(sorted(k.split()[0] for k in self.host_keys))}"


def abbreviate(machine_id: str) -> str:
    """Enough of a machine id to tell it apart; systemd asks that the whole id not be
    shown where others may read it."""
    return machine_id[:8] + "…"


def _read_optional(host: Host, path: str) -> str | None:
    """The file's text, or None when it does not exist or cannot be read. Raises
    RemoteError (UnreachableError, exit 8) when the host itself does not answer."""
    try:
        return host.read_file(path).decode("utf-8", "replace")
    except RemoteError:
        # Missing, or there but unreadable to us: as good as absent for a proof. Asking
        # whether it exists tells that from a host that does not answer (RemoteError).
        host.exists(path)
        return None


def read_machine_id(host: Host, root: str = "/") -> str | None:
    """`<root>/etc/machine-id` of `host` (32 lower-case hex digits), or None when it is
    missing, unreadable, empty or `uninitialized` (a first boot). Raises RemoteError
    when the host cannot be reached."""
    text = _read_optional(host, rooted(root, MACHINE_ID))
    value = (text or "").strip().lower()
    return value if _MACHINE_ID_FORMAT.match(value) else None


def read_host_keys(host: Host, root: str = "/") -> frozenset[str]:
    """The public ssh host keys under `<root>/etc/ssh` ("type base64", comment dropped).
    Raises RemoteError when the host cannot be reached."""
    keys = set()
    for kind in HOST_KEY_TYPES:
        text = _read_optional(host, rooted(root, f"/etc/ssh/ssh_host_{kind}_key.pub"))
        words = (text or "").split()
        if len(words) >= 2:
            keys.add(f"{words[0]} {words[1]}")
    return frozenset(keys)


class MachineReader:
    """Reads each host's identity once, its host keys only when a comparison needs them."""

    def __init__(self, inventory: Inventory, hosts: HostFactory) -> None:
        self.inventory = inventory
        self.hosts = hosts
        self._ids: dict[str, str | None] = {}
        self._keys: dict[str, frozenset[str]] = {}

    def _root(self, name: str) -> str:
        model = self.inventory.hosts.get(name)
        return model.root if model else "/"

    def machine_id(self, name: str) -> str | None:
        if name not in self._ids:
            self._ids[name] = read_machine_id(self.hosts(name), self._root(name))
        return self._ids[name]

    def host_keys(self, name: str) -> frozenset[str]:
        if name not in self._keys:
            self._keys[name] = read_host_keys(self.hosts(name), self._root(name))
        return self._keys[name]

    def identity(self, name: str, *, with_keys: bool = False) -> MachineIdentity:
        machine_id = self.machine_id(name)
        keys = self.host_keys(name) if with_keys or machine_id is None else frozenset()
        return MachineIdentity(name, machine_id, keys)


def same_machine(a: MachineIdentity, b: MachineIdentity) -> str | None:
    """Why `a` and `b` are one machine ("machine-id 1234…"), or None when they are two.
    Pure. Raises PreflightError when the two cannot be compared (no machine id on one
    side, no host key in common to decide by)."""
    if a.machine_id and b.machine_id:
        return f"machine-id {abbreviate(a.machine_id)}" if a.machine_id == b.machine_id \
            else None
    if not a.host_keys or not b.host_keys:
        missing = a.host if not a.host_keys else b.host
        raise PreflightError(
            f"cannot prove that {a.host!r} and {b.host!r} are different machines: "
            f"{missing!r} has no readable {MACHINE_ID} and no readable ssh host key",
            hint="make /etc/machine-id (under the host's root) readable to sbs's user")
    shared = a.host_keys & b.host_keys
    if shared:
        return f"ssh host key {sorted(shared)[0].split()[0]} (no machine-id on " \
               f"{a.host if not a.machine_id else b.host!r})"
    return None


def require_distinct_controllers(inventory: Inventory, reader: MachineReader
                                 ) -> dict[str, str]:
    """Prove every old controller is another machine than every new controller.

    Returns each controller's identity as shown ("machine-id 1234…"). Raises
    SameMachineError (exit 2) naming both inventory fields, PreflightError (exit 3)
    when a pair cannot be compared, RemoteError (exit 8) for a host that does not
    answer.
    """
    shown: dict[str, str] = {}
    for i, old in enumerate(inventory.old.controllers):
        for j, new in enumerate(inventory.new.controllers):
            a, b = reader.identity(old), reader.identity(new)
            if (a.machine_id is None) != (b.machine_id is None):
                # one side falls back to host keys: compare the other by its keys too
                a, b = reader.identity(old, with_keys=True), \
                    reader.identity(new, with_keys=True)
            why = same_machine(a, b)
            if why is not None:
                raise SameMachineError(
                    f"old.controllers[{i}] {old!r} and new.controllers[{j}] {new!r} are "
                    f"the same machine ({why}); sbs would write the old side",
                    hint="name a different machine on the new side; machines cloned "
                         "from one image need their own machine id "
                         "(systemd-machine-id-setup)")
            shown[old], shown[new] = a.describe(), b.describe()
    return shown


# -- the message bus ----------------------------------------------------------------


def rpc_workers(inventory: Inventory) -> dict[str, tuple[str, ...]]:
    """The inventory's services that start workers consuming RPC queues, with them."""
    return {svc: service(svc).rpc_workers for svc in inventory.ordered_services
            if service(svc).rpc_workers}


def _broker_address(address: str) -> str:
    """The inventory's one spelling of an address (inventory.normal_address), with every
    loopback name and address as one: a broker on this machine answers on all of them."""
    text = normal_address(address)
    if text in ("localhost", "localhost.localdomain"):
        return "127.0.0.1"
    try:
        return "127.0.0.1" if ipaddress.ip_address(text).is_loopback else text
    except ValueError:
        return text


def broker_addresses(inventory: Inventory, broker: BrokerModel) -> frozenset[str]:
    """Every address the inventory gives for a broker (its host, by the inventory
    host's address when it names one, and its management URL's host), normalised."""
    found = set()
    if broker.host:
        model = inventory.hosts.get(broker.host)
        found.add(_broker_address(model.address if model else broker.host))
    if broker.management_url:
        hostname = urlsplit(broker.management_url).hostname
        if hostname:
            found.add(_broker_address(hostname))
    return frozenset(found)


def same_host_by_identity(reader: MachineReader) -> Callable[[str, str], bool]:
    """`same_host` for `shared_bus`: two inventory hosts with one machine id. A host
    whose id cannot be read counts as another (its address was compared already)."""
    def same(old: str, new: str) -> bool:
        hosts = reader.inventory.hosts
        if old not in hosts or new not in hosts:
            return False
        try:
            a, b = reader.machine_id(old), reader.machine_id(new)
        except SbsError:
            return False
        return a is not None and a == b
    return same


def _normal_vhost(vhost: str) -> str:
    return unquote(vhost).strip() or "/"


def _describe_broker(side: str, broker: BrokerModel) -> str:
    where = f"{side}.broker.host {broker.host!r}" if broker.host else (
        f"{side}.broker.management_url {broker.management_url!r}"
        if broker.management_url else f"{side}.broker (no host)")
    return f"{where}, {side}.broker.vhost {broker.vhost!r}"


def shared_bus(inventory: Inventory, *,
               same_host: Callable[[str, str], bool] | None = None) -> str | None:
    """Why the new side's RPC workers would run on the old side's bus, or None.

    Pure unless `same_host(old_broker_host, new_broker_host)` is given: then two broker
    hosts with different addresses are compared by that (machine identity) too. Nothing
    to say when no service starts RPC workers or the old side names no broker.
    """
    workers = rpc_workers(inventory)
    old = inventory.old.broker
    if not workers or old is None:
        return None
    who = "; ".join(f"{svc} ({', '.join(names)})" for svc, names in workers.items())
    new = inventory.new.broker
    if new is None:
        return (f"new.broker is not given, so the new side inherits "
                f"{_describe_broker('old', old)}: the new {who} would consume the live "
                "cloud's RPC queues")
    if _normal_vhost(old.vhost) != _normal_vhost(new.vhost):
        return None
    old_at, new_at = broker_addresses(inventory, old), broker_addresses(inventory, new)
    # A new broker block naming no host of its own stays on the old one.
    same = not new_at or bool(old_at & new_at) or (
        same_host is not None and bool(old.host) and bool(new.host)
        and same_host(str(old.host), str(new.host)))
    if not same:
        return None
    return (f"{_describe_broker('new', new)} are the old side's "
            f"({_describe_broker('old', old)}): the new {who} would consume the live "
            "cloud's RPC queues")


def require_own_bus(inventory: Inventory, *,
                    same_host: Callable[[str, str], bool] | None = None) -> None:
    """Raises SharedBusError (exit 3) naming the fields when `shared_bus` finds one."""
    why = shared_bus(inventory, same_host=same_host)
    if why:
        raise SharedBusError(
            why, hint="give the new side its own broker or vhost (new.broker) until sbs "
                      "moves the whole cloud's bus; computes' calls answered by the new "
                      "release would write into the copy and be lost")
