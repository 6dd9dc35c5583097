"""What every step action is built from: `ActionContext`.

A step's own inputs (service, hosts, params) come with the step, and the run's
(journal, log, options such as accept_data_loss) with its StepContext; what stays the
same for the whole command lives here, so one action object serves a cutover and the
rollback that may follow it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sidebyside.inventory import Inventory
from sidebyside.remote.base import Host
from sidebyside.remote.factory import rooted

HostFactory = Callable[[str], Host]


@dataclass(frozen=True)
class ActionContext:
    """The environment's inventory, the hosts its steps reach (inventory name -> Host,
    one per name: a `Hosts`, or a test's fakes) and the state dir (copies, backups,
    exports, deploy artifacts)."""

    inventory: Inventory
    hosts: HostFactory
    state_dir: Path

    def path(self, host: str, absolute: str) -> str:
        """Where `absolute` lives on inventory host `host`, under its root prefix.
        Raises InputError when `absolute` is not absolute."""
        return rooted(self.inventory.hosts[host].root, absolute)
