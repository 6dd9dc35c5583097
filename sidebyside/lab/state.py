"""`<state>/lab.json`: what `lab up` built and which services should run, and the lock
that lets one `sbs lab` command at a time change a lab (file I/O only)."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from sidebyside.errors import InputError, LockedError
from sidebyside.lab.layout import TOPOLOGIES, LabLayout, Topology
from sidebyside.lab.render import LabSpec


@dataclass
class LabState:
    spec: LabSpec
    # service -> release -> venv path
    venvs: dict[str, dict[str, str]] = field(default_factory=dict)
    # setup steps already done, so that `lab up` is idempotent
    done: list[str] = field(default_factory=list)
    # controller dir ("old", or "old-ctl2" with several a side) -> services that should
    # run; `lab up` restores it after `lab down`
    wanted: dict[str, list[str]] = field(default_factory=lambda: {"old": [], "new": []})
    # compute node dir -> the release its nova-compute runs (the old side's until
    # `sbs computes upgrade` moves it)
    compute_releases: dict[str, str] = field(default_factory=dict)

    def compute_release(self, node: str) -> str:
        return self.compute_releases.get(node, self.spec.from_release)

    def venv(self, service: str, release: str) -> Path:
        """Raises InputError when the lab did not build that venv."""
        try:
            return Path(self.venvs[service][release])
        except KeyError:
            raise InputError(f"the lab has no venv for {service} {release}; "
                             f"run `sbs lab up`") from None

    def mark(self, step: str) -> None:
        if step not in self.done:
            self.done.append(step)

    def want(self, side: str, service: str, running: bool) -> None:
        services = self.wanted.setdefault(side, [])
        if running and service not in services:
            services.append(service)
        if not running and service in services:
            services.remove(service)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["spec"]["via"] = list(self.spec.via)
        data["spec"]["services"] = list(self.spec.services)
        if self.spec.topology == TOPOLOGIES["single"]:
            del data["spec"]["topology"]  # lab.json as before topologies existed
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabState:
        spec_data = dict(data["spec"])
        spec = LabSpec(from_release=spec_data["from_release"],
                       to_release=spec_data["to_release"],
                       via=tuple(spec_data.get("via", ())),
                       services=tuple(spec_data["services"]),
                       environment=spec_data.get("environment", "lab"),
                       topology=Topology(**spec_data.get("topology", {})))
        return cls(spec=spec, venvs=data.get("venvs", {}), done=data.get("done", []),
                   wanted=data.get("wanted", {"old": [], "new": []}),
                   compute_releases=dict(data.get("compute_releases", {})))


def load_state(layout: LabLayout) -> LabState | None:
    """The lab's state, or None when no lab was ever brought up there.

    Raises InputError when lab.json is unreadable.
    """
    try:
        data = json.loads(layout.lab_file.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise InputError(f"{layout.lab_file}: cannot read the lab state: {exc}") from None
    try:
        return LabState.from_json(data)
    except (KeyError, TypeError) as exc:
        raise InputError(f"{layout.lab_file}: not a lab state file ({exc})") from None


def save_state(layout: LabLayout, state: LabState) -> None:
    layout.state_dir.mkdir(parents=True, exist_ok=True)
    tmp = layout.lab_file.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state.to_json(), indent=2) + "\n")
    os.replace(tmp, layout.lab_file)


def update_state(layout: LabLayout, change: Callable[[LabState], None]) -> LabState:
    """Re-read lab.json, apply `change`, write it back, under a file lock: the services
    of several controllers start in parallel processes, each recording its own.

    Raises InputError when there is no lab state (or it is unreadable).
    """
    layout.state_dir.mkdir(parents=True, exist_ok=True)
    with open(layout.state_dir / "lab-state.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = load_state(layout)
        if state is None:
            raise InputError(f"{layout.lab_file}: no lab state to update")
        change(state)
        save_state(layout, state)
        return state


def bound(layout: LabLayout, state: LabState) -> LabLayout:
    """The layout whose paths and addresses follow the lab's own topology."""
    return replace(layout, topology=state.spec.topology)


def require_state(layout: LabLayout) -> LabState:
    """The lab's state. Raises InputError (no lab here, or lab.json unreadable)."""
    state = load_state(layout)
    if state is None:
        raise InputError(f"{layout.state_dir}: no lab here (no lab.json)")
    return state


@contextmanager
def one_lab_command(layout: LabLayout) -> Iterator[None]:
    """Held while `lab up`, `down` or `reset` changes the lab. Raises LockedError when
    another `sbs lab` command holds it."""
    layout.state_dir.mkdir(parents=True, exist_ok=True)
    with open(layout.state_dir / "lab.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockedError(f"{layout.state_dir}: another `sbs lab` command is running "
                              f"on this lab") from None
        yield
