"""Deploys run for real: ansible-runner with ansible-core, `sh -c`, and an sshd on loopback.

The sshd is the remote engineer's session fixture (tests/integration/remote/conftest.py),
started once and stopped by PID.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from sidebyside.actions.context import ActionContext
from sidebyside.actions.deploy import DeployAction
from sidebyside.engine.executor import Executor, RunOutcome, StepContext
from sidebyside.engine.journal import Journal
from sidebyside.inventory import Inventory, parse_inventory
from sidebyside.lab.deploy_adapter import LAB_PLAYBOOK, LabAnsibleHost, render_lab_inventory
from sidebyside.plan.model import Changes, Plan, Step
from tests.integration.remote.conftest import Sshd, sshd  # noqa: F401 - the fixture

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "minimal.yaml"
NEW = "new-ctl1"
TARGET_RELEASE = "2026.1"  # the lab has a lock for it; its venv is cached after `lab up`


def deploy_step(timeout: float | None = None) -> Step:
    return Step(id="prepare.deploy", action="deploy", changes=Changes.NEW_SIDE,
                title="Deploy the new controllers", hosts=(NEW,),
                params={"timeout": timeout} if timeout else {})


def sbs_inventory(directory: Path, deploy: dict[str, Any], *, root: Path) -> Inventory:
    """The minimal example with the new controller rooted in `root` and this deploy,
    as if read from `<directory>/sbs.yaml`."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["release"] = {"from": "2025.1", "to": TARGET_RELEASE}
    data["services"] = ["keystone"]
    for side in ("old", "new"):
        data[side]["services"] = {"keystone": {"units": ["apache2"]}}
    data["ha"]["haproxy"]["backends"] = {"keystone": data["ha"]["haproxy"]["backends"]
                                         ["keystone"]}
    data["hosts"][NEW]["root"] = str(root)
    data["deploy"] = deploy
    return parse_inventory(data, str(directory / "sbs.yaml"))


def no_host(name: str) -> Any:
    raise AssertionError(f"a deploy reaches no inventory host itself, not even {name}")


@dataclass
class DeployRig:
    """One environment: its sbs inventory, state dir, journal and a log of every line."""

    directory: Path
    inventory: Inventory
    root: Path
    journal: Journal = field(init=False)
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.journal = Journal(self.state_dir)

    @property
    def state_dir(self) -> Path:
        return self.directory / "state"

    def action(self, **kwargs: Any) -> DeployAction:
        return DeployAction(ActionContext(self.inventory, no_host, self.state_dir), **kwargs)

    def context(self, step: Step, *, redeploy: bool = False,
                on_log: Callable[[str], None] | None = None) -> StepContext:
        run_id = self.journal.start_run("prepare", self.inventory.environment,
                                        [step.to_dict()])
        return StepContext(run_id=run_id, step=step, journal=self.journal,
                           options={"redeploy": redeploy},
                           on_log=on_log or self.lines.append)

    def execute(self, step: Step, **options: Any) -> RunOutcome:
        plan = Plan(command="prepare", environment=self.inventory.environment, steps=(step,))
        return Executor(self.journal, {"deploy": self.action()}, options=options
                        ).execute(plan)

    def artifacts(self) -> list[Path]:
        directory = self.state_dir / "deploy" / "ansible" / "artifacts"
        return sorted(directory.iterdir()) if directory.is_dir() else []


def ansible_rig(directory: Path, *, hosts: list[LabAnsibleHost] | None = None,
                extra_vars: dict[str, Any] | None = None,
                playbook: Path = LAB_PLAYBOOK) -> DeployRig:
    """A rig deploying with the lab's real playbook (or another) to `<directory>/new`."""
    directory.mkdir(parents=True, exist_ok=True)
    root = directory / "new"
    ansible_inventory = directory / "ansible-inventory.yml"
    ansible_inventory.write_text(render_lab_inventory(
        hosts or [LabAnsibleHost(NEW, "127.0.0.12", str(root))]))
    deploy = {"ansible": {"playbook": str(playbook), "inventory": ansible_inventory.name,
                          "limit": "new", "extra_vars": extra_vars or {}}}
    return DeployRig(directory, sbs_inventory(directory, deploy, root=root), root)


def command_rig(directory: Path, command: str) -> DeployRig:
    directory.mkdir(parents=True, exist_ok=True)
    root = directory / "new"
    return DeployRig(directory, sbs_inventory(directory, {"command": command}, root=root),
                     root)


@pytest.fixture(scope="session", autouse=True)
def _ansible_installed() -> None:
    from sidebyside.deploy.ansible import search_path

    if shutil.which("ansible-playbook", path=search_path()) is None:
        pytest.fail("ansible-core and ansible-runner are required (pip install ansible-core "
                    "ansible-runner)")
