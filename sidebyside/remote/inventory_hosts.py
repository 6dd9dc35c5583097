"""Inventory host entries -> Host objects: the one place that turns `hosts.<name>` of
the inventory into a HostSpec (`spec_of`) and hands out one Host per name (`Hosts`).

Every command that reaches controllers goes through here: the step actions, `sbs check`
(the pre-flight), `sbs verify`.
"""

from __future__ import annotations

import threading

from sidebyside.errors import InputError
from sidebyside.inventory import HostModel, Inventory, WindowModel
from sidebyside.remote.base import Host
from sidebyside.remote.factory import HostSpec, connect


def spec_of(name: str, model: HostModel, window: WindowModel | None = None) -> HostSpec:
    """How to reach inventory host `name`; ssh's timeouts come from the inventory's
    window (the defaults of WindowModel when none is given)."""
    waits = window or WindowModel(max_downtime=0)
    return HostSpec(name=name, address=model.address, transport=model.transport,
                    user=model.ssh.user, port=model.ssh.port, identity=model.ssh.identity,
                    jump=model.ssh.jump, options=dict(model.ssh.options),
                    netns=model.netns, sudo=model.sudo, root=model.root,
                    known_hosts=model.ssh.known_hosts,
                    connect_timeout=waits.ssh_connect_timeout,
                    server_alive_interval=waits.ssh_server_alive_interval,
                    allow_unsafe_options=model.allow_unsafe_ssh_options)


class Hosts:
    """Hands out one Host per inventory name (ssh control masters are shared).

    Close it when the command ends (`with Hosts(inv) as hosts:`): that stops the ssh
    control masters and removes their private directories."""

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
                self._hosts[name] = connect(spec_of(name, model, self.inventory.window))
            return self._hosts[name]

    def close(self) -> None:
        """Close every host handed out (each one even when another's close fails);
        the Hosts can be used again afterwards and reconnects on demand."""
        with self._lock:
            opened, self._hosts = list(self._hosts.values()), {}
        errors: list[BaseException] = []
        for host in opened:
            close = getattr(host, "close", None)
            if close is None:
                continue
            try:
                close()
            except Exception as exc:  # the others must still close
                errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self) -> Hosts:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
