"""DeployAction's decisions without running anything: what runs, fingerprints, skip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from sidebyside.actions.context import ActionContext
from sidebyside.actions.deploy import DeployAction, deploy_fact_key
from sidebyside.engine.executor import StepContext
from sidebyside.engine.journal import Journal
from sidebyside.errors import InputError
from sidebyside.inventory import Inventory, parse_inventory
from sidebyside.plan.model import Changes, Step
from sidebyside.redact import forget_secrets

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "minimal.yaml"
STEP = Step(id="prepare.deploy", action="deploy", title="deploy", changes=Changes.NEW_SIDE)


def no_host(name: str) -> Any:
    raise AssertionError(f"a deploy reaches no inventory host itself, not even {name}")


def deploy_action(inv: Inventory, tmp_path: Path, **kwargs: Any) -> DeployAction:
    return DeployAction(ActionContext(inv, no_host, tmp_path / "state"), **kwargs)


@pytest.fixture(autouse=True)
def _forget_registered_extra_vars() -> Any:
    # Planning a deploy registers the operator's extra_vars values as secrets, process
    # wide: they must not mask other tests' text.
    yield
    forget_secrets()


def inventory(directory: Path, deploy: dict[str, Any] | None) -> Inventory:
    data = yaml.safe_load(EXAMPLE.read_text())
    if deploy is not None:
        data["deploy"] = deploy
    return parse_inventory(data, str(directory / "sbs.yaml"))


def site(tmp_path: Path) -> Path:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "site.yml").write_text("- hosts: all\n  tasks: []\n")
    (tmp_path / "deploy" / "hosts.ini").write_text("[new]\nnew-ctl1\n")
    return tmp_path


def ansible_deploy(**changes: Any) -> dict[str, Any]:
    return {"ansible": {"playbook": "deploy/site.yml", "inventory": "deploy/hosts.ini",
                        **changes}}


def context(tmp_path: Path, **options: Any) -> StepContext:
    journal = Journal(tmp_path / "state")
    run_id = journal.start_run("prepare", "minimal", [STEP.to_dict()])
    return StepContext(run_id=run_id, step=STEP, journal=journal, options=options)


def plan_of(tmp_path: Path, deploy: dict[str, Any]) -> Any:
    action = deploy_action(inventory(tmp_path, deploy), tmp_path, python="/py")
    return action._plan(STEP, 1)


def test_paths_follow_the_inventory_and_limit_defaults_to_new_controllers(
        tmp_path: Path) -> None:
    plan = plan_of(site(tmp_path), ansible_deploy())
    assert plan.request.playbook == str(tmp_path / "deploy" / "site.yml")
    assert plan.request.inventory == str(tmp_path / "deploy" / "hosts.ini")
    assert plan.request.limit == "new-ctl1"
    assert plan.request.extra_vars["sbs_release_to"] == "2026.1"
    assert plan.request.extra_vars["sbs_python"] == "/py"


def test_operator_extra_vars_override_and_are_reported(tmp_path: Path) -> None:
    plan = plan_of(site(tmp_path), ansible_deploy(
        limit="new", extra_vars={"sbs_new_db_host": "db-vip.example", "site": "x"}))
    assert plan.request.limit == "new"
    assert plan.request.extra_vars["sbs_new_db_host"] == "db-vip.example"
    assert plan.overridden == ["sbs_new_db_host"]


def test_fingerprint_follows_playbook_and_inventory_contents(tmp_path: Path) -> None:
    site(tmp_path)
    first = plan_of(tmp_path, ansible_deploy()).fingerprint
    assert plan_of(tmp_path, ansible_deploy()).fingerprint == first
    (tmp_path / "deploy" / "site.yml").write_text("- hosts: all\n  tasks: [{debug: {}}]\n")
    second = plan_of(tmp_path, ansible_deploy()).fingerprint
    assert second != first
    (tmp_path / "deploy" / "hosts.ini").write_text("[new]\nnew-ctl1\nnew-ctl2\n")
    assert plan_of(tmp_path, ansible_deploy()).fingerprint != second
    assert plan_of(tmp_path, ansible_deploy(limit="all")).fingerprint != first


def test_missing_inputs_are_input_errors_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"deploy.ansible.playbook: .*deploy/site.yml"):
        plan_of(tmp_path, ansible_deploy())
    site(tmp_path)
    with pytest.raises(InputError, match=r"deploy.ansible.inventory: .*nowhere.ini"):
        plan_of(tmp_path, ansible_deploy(inventory="nowhere.ini"))
    action = deploy_action(inventory(tmp_path, None), tmp_path)
    with pytest.raises(InputError, match="no `deploy` section"):
        action.run(STEP, context(tmp_path))


def test_an_ansible_host_list_is_not_taken_for_a_path(tmp_path: Path) -> None:
    plan = plan_of(site(tmp_path), ansible_deploy(inventory="127.0.0.12,"))
    assert plan.request.inventory == "127.0.0.12,"


def test_command_gets_sbs_variables_and_runs_beside_the_inventory(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, {"command": "knife ssh 'role:controller' chef-client"})
    assert plan.cwd == str(tmp_path)
    assert plan.env["SBS_RELEASE_TO"] == "2026.1"
    assert plan.env["SBS_NEW_CONTROLLERS"] == "new-ctl1"
    assert plan.fingerprint != plan_of(tmp_path, {"command": "puppet agent -t"}).fingerprint


def test_recorded_success_skips_unless_redeploy(tmp_path: Path) -> None:
    action = deploy_action(inventory(tmp_path, {"command": "true"}), tmp_path)
    ctx = context(tmp_path)
    assert not action.verify(STEP, ctx)
    fingerprint = action._plan(STEP, ctx.run_id).fingerprint
    ctx.set_fact(deploy_fact_key(STEP.id), {"fingerprint": fingerprint, "state": "done"})
    assert action.verify(STEP, ctx)
    assert action.run(STEP, ctx) == {"skipped": True, "reason": "already deployed",
                                     "fingerprint": fingerprint}
    assert any("--redeploy runs it again" in line for line in ctx.log_lines)
