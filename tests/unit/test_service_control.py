from __future__ import annotations

import pytest

from sidebyside.actions.service_control import control_argvs
from sidebyside.inventory import ServiceControl


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
