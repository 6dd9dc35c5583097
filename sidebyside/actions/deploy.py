"""The `deploy` step: run the operator's own automation to install the new controllers.

Idempotent from sbs's side: a successful deploy is recorded as a journal fact holding
a fingerprint of what was run (playbook and inventory contents, limit, extra vars; or
the command and its environment). A later run with the same fingerprint is skipped
unless the operator asks for `--redeploy` (option "redeploy"); a changed playbook,
inventory or release deploys again.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sidebyside.actions.context import ActionContext
from sidebyside.deploy import ansible as ansible_adapter
from sidebyside.deploy.command import run_deploy_command
from sidebyside.deploy.model import (
    SBS_VAR_PREFIX,
    command_environment,
    fingerprint,
    limit_for,
    merge_extra_vars,
    register_extra_var_secrets,
    resolve_path,
    sbs_vars,
)
from sidebyside.engine.executor import StepContext
from sidebyside.errors import InputError, StepFailed
from sidebyside.inventory import DeployModel
from sidebyside.plan.model import Step

DEFAULT_TIMEOUT = 3600.0


def deploy_fact_key(step_id: str) -> str:
    return f"deploy:{step_id}"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass(frozen=True)
class AnsiblePlan:
    request: ansible_adapter.PlaybookRequest
    fingerprint: str
    overridden: list[str]


@dataclass(frozen=True)
class CommandPlan:
    command: str
    env: dict[str, str]
    cwd: str | None
    timeout: float
    fingerprint: str


def automation_plan(deploy: DeployModel, source: str, provided: dict[str, Any], *,
                    limit: str, timeout: float, ident: str) -> AnsiblePlan | CommandPlan:
    """What the operator's automation `deploy` runs (a playbook through ansible-runner
    with `limit`, or a command) with sbs's variables `provided`, and its fingerprint.
    Paths are taken from the inventory file's directory (`source`). Raises InputError
    for a missing playbook or inventory."""
    if deploy.ansible is not None:
        playbook = resolve_path(deploy.ansible.playbook, source)
        inventory = deploy.ansible.inventory
        if "," not in inventory:  # an ansible host list ("h1,h2,") is not a path
            inventory = resolve_path(inventory, source)
        register_extra_var_secrets(deploy.ansible.extra_vars)
        extra_vars, overridden = merge_extra_vars(provided, deploy.ansible.extra_vars)
        request = ansible_adapter.PlaybookRequest(
            playbook=playbook, inventory=inventory, limit=limit, extra_vars=extra_vars,
            timeout=timeout, ident=ident)
        ansible_adapter.check_inputs(request)
        parts = {"playbook": playbook,
                 "playbook_sha256": ansible_adapter.file_digest(playbook),
                 "inventory": inventory,
                 "inventory_sha256": ansible_adapter.file_digest(inventory),
                 "limit": limit, "extra_vars": extra_vars}
        return AnsiblePlan(request, fingerprint("ansible", parts), overridden)
    assert deploy.command is not None
    env = command_environment(provided)
    cwd = None if source.startswith("<") else str(Path(source).resolve().parent)
    return CommandPlan(command=deploy.command, env=env, cwd=cwd, timeout=timeout,
                        fingerprint=fingerprint("command", {"command": deploy.command,
                                                            "env": env}))


class DeployAction:
    """Action `deploy`: `deploy.ansible` through ansible-runner, or `deploy.command`.

    ansible-runner's private directory (artifacts of the last runs) is
    `<state_dir>/deploy/ansible/` of the context's state dir.
    """

    def __init__(self, context: ActionContext, *,
                 timeout: float = DEFAULT_TIMEOUT, python: str | None = None) -> None:
        self.inventory = context.inventory
        self.state_dir = Path(context.state_dir)
        self.timeout = timeout
        self.python = python or sys.executable

    @property
    def private_dir(self) -> Path:
        return self.state_dir / "deploy" / "ansible"

    def _timeout(self, step: Step) -> float:
        return float(step.params.get("timeout", self.timeout))

    def _plan(self, step: Step, run_id: int) -> AnsiblePlan | CommandPlan:
        """What this step runs, and its fingerprint. Raises InputError."""
        deploy = self.inventory.deploy
        if deploy is None:
            raise InputError("the inventory has no `deploy` section", hint="add deploy.ansible "
                             "or deploy.command, or deploy the new controllers yourself")
        limit = limit_for(deploy.ansible.limit if deploy.ansible else None,
                          self.inventory.new.controllers)
        return automation_plan(deploy, self.inventory.source,
                               sbs_vars(self.inventory, python=self.python), limit=limit,
                               timeout=self._timeout(step),
                               ident=f"{step.id}-run{run_id}-{int(time.time())}")

    # ---- the Action protocol ---------------------------------------------------------

    def verify(self, step: Step, ctx: StepContext) -> bool:
        """True when a deploy with exactly this playbook/inventory/limit/vars (or this
        command) already succeeded. Raises InputError when the deploy is misconfigured."""
        recorded = ctx.fact(deploy_fact_key(step.id))
        if not isinstance(recorded, dict):
            return False
        return bool(recorded.get("fingerprint") == self._plan(step, ctx.run_id).fingerprint)

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any] | None:
        """Deploy, or skip when already deployed identically (unless `redeploy`).

        Raises InputError (missing playbook/inventory, no deploy section) or StepFailed
        naming the failing task, host and message (ansible) or the exit status (command).
        """
        plan = self._plan(step, ctx.run_id)
        recorded = ctx.fact(deploy_fact_key(step.id))
        if isinstance(recorded, dict) and recorded.get("fingerprint") == plan.fingerprint:
            if not ctx.options.get("redeploy"):
                ctx.log(f"already deployed with the same {self._what(plan)} at "
                        f"{recorded.get('finished', '?')}: skipped (--redeploy runs it again)")
                return {"skipped": True, "reason": "already deployed",
                        "fingerprint": plan.fingerprint}
            ctx.log("deployed identically before; deploying again as --redeploy asks")
        elif isinstance(recorded, dict):
            ctx.log(f"the {self._what(plan)} changed since the last deploy: deploying again")
        # Forget the earlier success first: a deploy that fails half-way leaves the hosts
        # in neither state, so even the earlier inputs must run again next time.
        ctx.set_fact(deploy_fact_key(step.id), {"fingerprint": None, "state": "running",
                                                "started": _now()})
        if isinstance(plan, AnsiblePlan):
            result = run_ansible(step.id, ctx.log, plan, self.private_dir)
        else:
            result = run_command(step.id, ctx.log, plan)
        ctx.set_fact(deploy_fact_key(step.id), {
            "fingerprint": plan.fingerprint, "kind": result["kind"],
            "state": "done", "finished": _now(),
            "hosts": result.get("hosts", {})})
        return result

    @staticmethod
    def _what(plan: AnsiblePlan | CommandPlan) -> str:
        return ("playbook, inventory, limit and variables" if isinstance(plan, AnsiblePlan)
                else "command and variables")


def _private_parent(private_dir: Path) -> None:
    """The parent of ansible-runner's private data dir (the extravars file, artifacts)
    exists, 0700 even when it existed."""
    parent = private_dir.parent
    parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(parent, 0o700)


def run_ansible(step_id: str, log: Callable[[str], None], plan: AnsiblePlan,
                private_dir: Path, *, what: str = "deploy") -> dict[str, Any]:
    """Run the playbook of `plan`; its result. Raises StepFailed naming the failing task,
    host and message."""
    request = plan.request
    log(f"ansible-playbook {request.playbook} -i {request.inventory} "
        f"--limit {request.limit} (extra vars: "
        f"{', '.join(sorted(request.extra_vars))})")
    for name in plan.overridden:
        if name.startswith(SBS_VAR_PREFIX):
            log(f"note: {what}.ansible.extra_vars overrides sbs's {name}")
    _private_parent(private_dir)
    outcome = ansible_adapter.run_playbook(request, private_dir, log)
    log(f"ansible-playbook {outcome.status} (rc={outcome.rc}) in "
        f"{outcome.seconds:.1f} s; output: {outcome.artifact_dir / 'stdout'}")
    if not outcome.ok:
        raise StepFailed(step_id, outcome.digest.failure_message(outcome.status, outcome.rc),
                         hint=f"ansible's full output is in {outcome.artifact_dir}/stdout; "
                              "fix the cause and re-run to resume")
    return {"kind": "ansible", "status": outcome.status, "rc": outcome.rc,
            "hosts": outcome.digest.summary(), "artifacts": str(outcome.artifact_dir),
            "seconds": round(outcome.seconds, 1), "fingerprint": plan.fingerprint}

def run_command(step_id: str, log: Callable[[str], None], plan: CommandPlan, *,
                what: str = "deploy") -> dict[str, Any]:
    """Run the command of `plan`; its result. Raises StepFailed with its exit status and
    last output."""
    log(f"{what} command (sh -c, timeout {plan.timeout:g} s): {plan.command}")
    outcome = run_deploy_command(plan.command, env=plan.env, cwd=plan.cwd,
                                 timeout=plan.timeout, on_log=log)
    if not outcome.ok:
        if outcome.returncode is None:
            reason = (f"timed out after {plan.timeout:g} s"
                      if outcome.error and "timed out" in outcome.error
                      else f"could not run: {outcome.error}")
        else:
            reason = f"exited with status {outcome.returncode}"
        last = " | ".join(outcome.output_tail[-3:])
        raise StepFailed(step_id, f"{what} command {reason}"
                                  + (f"; last output: {last}" if last else ""))
    log(f"{what} command finished in {outcome.seconds:.1f} s")
    return {"kind": "command", "rc": outcome.returncode,
            "seconds": round(outcome.seconds, 1), "fingerprint": plan.fingerprint}
