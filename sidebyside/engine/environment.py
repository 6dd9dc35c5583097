"""An environment being upgraded: its inventory, state dir and journal."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sidebyside.engine.journal import Journal
from sidebyside.inventory import Inventory, load_inventory


def default_state_dir(environment: str) -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "sbs" / environment


@dataclass
class Environment:
    inventory: Inventory
    state_dir: Path
    _journal: Journal | None = field(default=None, repr=False)

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            self._journal = Journal(self.state_dir)
        return self._journal

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None


def open_environment(inventory_path: str | os.PathLike[str], state_dir: Path | None = None,
                     *, check_secrets: bool = False) -> Environment:
    """Load and validate the inventory. Raises InventoryError (exit 2)."""
    inventory = load_inventory(inventory_path, check_secrets=check_secrets)
    return Environment(inventory=inventory,
                       state_dir=state_dir or default_state_dir(inventory.environment))
