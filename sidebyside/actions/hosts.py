"""Inventory host names -> connected Host objects, one per name per run."""

from __future__ import annotations

import threading

from sidebyside.errors import InputError
from sidebyside.inventory import HostModel, Inventory
from sidebyside.remote.base import Host
from sidebyside.remote.factory import HostSpec, connect, rooted


def spec_of(name: str, model: HostModel) -> HostSpec:
    return HostSpec(name=name, address=model.address, transport=model.transport,
                    user=model.ssh.user, port=model.ssh.port, identity=model.ssh.identity,
                    jump=model.ssh.jump, options=dict(model.ssh.options),
                    netns=model.netns, sudo=model.sudo, root=model.root)


class Hosts:
    """Hands out one Host per inventory name (ssh control masters are shared)."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self._hosts: dict[str, Host] = {}
        self._lock = threading.Lock()

    def __call__(self, name: str) -> Host:
        with self._lock:
            if name not in self._hosts:
                model = self.inventory.hosts.get(name)
                if model is None:
                    raise InputError(f"host {name!r} is not defined in the inventory")
                self._hosts[name] = connect(spec_of(name, model))
            return self._hosts[name]

    def path(self, name: str, absolute: str) -> str:
        """Where `absolute` lives on host `name`, under its root prefix."""
        return rooted(self.inventory.hosts[name].root, absolute)

    def close(self) -> None:
        for host in self._hosts.values():
            close = getattr(host, "close", None)
            if close:
                close()
