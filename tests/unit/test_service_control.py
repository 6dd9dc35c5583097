from __future__ import annotations

from pathlib import Path

import pytest

from sidebyside.actions.context import ActionContext
from sidebyside.actions.service_control import StartServiceAction, control_argvs
from sidebyside.engine.executor import StepContext
from sidebyside.engine.journal import Journal
from sidebyside.engine.per_host import fleet_key
from sidebyside.errors import StepFailed
from sidebyside.inventory import ServiceControl, WindowModel
from sidebyside.plan.model import Changes, Step
from sidebyside.remote.local import LocalHost


def test_units_start_stop_status():
    control = ServiceControl(units=["nova-api", "nova-conductor"])
    assert control_argvs(control, "stop") == [["systemctl", "stop", "nova-api",
                                               "nova-conductor"]]
    assert control_argvs(control, "status") == [["systemctl", "is-active", "--quiet",
                                                 "nova-api", "nova-conductor"]]


def test_containers_status_compares_running_flag():
    [argv] = control_argvs(ServiceControl(containers=["keystone"]), "status")
    assert argv[:2] == ["sh", "-c"] and "= true" in argv[2] and "keystone" in argv[2]
    assert control_argvs(ServiceControl(containers=["a", "b"]), "start") == [
        ["docker", "start", "a", "b"]]


def test_commands_are_split_like_a_shell():
    control = ServiceControl(stop="svc stop 'my unit'", start="svc start x")
    assert control_argvs(control, "stop") == [["svc", "stop", "my unit"]]
    assert control_argvs(control, "status") == []


def test_unknown_verb():
    with pytest.raises(ValueError):
        control_argvs(ServiceControl(units=["x"]), "restart")


def test_host_placeholder_names_the_host_the_command_runs_on() -> None:
    control = ServiceControl(start="lab service start --controller {host} keystone",
                             stop="lab service stop --controller {host} keystone",
                             status="check {host}-{host}")
    assert control_argvs(control, "start", "new-ctl3") == [
        ["lab", "service", "start", "--controller", "new-ctl3", "keystone"]]
    assert control_argvs(control, "status", "ctl2") == [["check", "ctl2-ctl2"]]
    assert control_argvs(control, "stop") == [  # no host given: left as written
        ["lab", "service", "stop", "--controller", "{host}", "keystone"]]


class _Side:
    def __init__(self, services: dict[str, ServiceControl]) -> None:
        self.services = services


class _Inventory:
    """Only what ServiceAction reads: one side's service controls, and the window."""

    window = WindowModel(max_downtime=60)

    def __init__(self, services: dict[str, ServiceControl]) -> None:
        self._side = _Side(services)

    def side(self, name: str) -> _Side:
        assert name == "new"
        return self._side


def test_several_services_start_together_on_every_host_and_resume_per_service_and_host(
        tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()

    def control(service: str) -> ServiceControl:
        # a real command per service and host; `fail-<service>@<host>` makes it fail
        return ServiceControl(
            start=f"sh -c 'test ! -e {marks}/fail-{service}@{{host}} && "
                  f"touch {marks}/{service}@{{host}}'",
            stop=f"rm -f {marks}/{service}@{{host}}",
            status=f"test -e {marks}/{service}@{{host}}")

    inventory = _Inventory({svc: control(svc) for svc in ("keystone", "glance")})
    action = StartServiceAction(ActionContext(inventory, lambda name: LocalHost(name),  # type: ignore[arg-type]
                                              tmp_path / "state"))
    step = Step(id="cutover.start-new", action="start_service", title="start all",
                changes=Changes.NEW_SIDE, hosts=("ctl1", "ctl2"),
                params={"side": "new", "services": ["keystone", "glance"]})
    journal = Journal(tmp_path / "state")
    run_id = journal.start_run("cutover", "t", [step.to_dict()])
    ctx = StepContext(run_id=run_id, step=step, journal=journal, options={})
    (marks / "fail-glance@ctl2").touch()
    with pytest.raises(StepFailed) as caught:
        action.run(step, ctx)
    assert "glance@ctl2" in caught.value.message and "keystone@" not in caught.value.message
    assert sorted(p.name for p in marks.iterdir() if not p.name.startswith("fail")) == [
        "glance@ctl1", "keystone@ctl1", "keystone@ctl2"]
    assert action.verify(step, ctx) is False  # glance is not running on ctl2
    assert journal.fact(fleet_key(run_id, step.id, "keystone@ctl2")) == {"verb": "start"}

    (marks / "fail-glance@ctl2").unlink()
    (marks / "keystone@ctl1").unlink()  # done before: a resume must not start it again
    result = action.run(step, ctx)
    assert result["done"] == ["glance@ctl1", "glance@ctl2", "keystone@ctl1",
                              "keystone@ctl2"]
    assert not (marks / "keystone@ctl1").exists()
    (marks / "keystone@ctl1").touch()
    assert action.verify(step, ctx) is True
