"""Argument checks of `sbs lab` (no lab is started)."""

from __future__ import annotations

import pytest

from sidebyside.cli import lab as lab_cli
from sidebyside.errors import InputError


def test_services_are_put_in_upgrade_order() -> None:
    assert lab_cli._services("nova, glance,keystone") == ("keystone", "glance", "nova")


@pytest.mark.parametrize("value, message", [
    ("keystone,neutronx", "neutronx"),
    ("keystone,swift", "swift"),
    ("glance", "keystone is required"),
    ("", "none given"),
])
def test_bad_services_are_input_errors(value: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        lab_cli._services(value)


def test_releases_must_be_locked_and_increase() -> None:
    assert lab_cli._releases("2024.1", "2026.1", ["2025.1"]) == ("2025.1",)
    with pytest.raises(InputError, match="2024.2"):
        lab_cli._releases("2024.1", "2026.1", ["2024.2"])
    with pytest.raises(InputError, match="strictly increase"):
        lab_cli._releases("2026.1", "2025.1", [])


def test_service_status_of_a_missing_lab_is_an_input_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    result = CliRunner().invoke(lab_cli.app, ["service", "status", "--side", "old",
                                              "--state-dir", str(tmp_path), "keystone"])
    assert isinstance(result.exception, InputError)
    assert "no lab here" in result.exception.message


def test_env_exports_the_inventory_and_clouds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    (tmp_path / "sbs.yaml").write_text("environment: lab\n")
    result = CliRunner().invoke(lab_cli.app, ["env", "--state-dir", str(tmp_path),
                                              "--cloud", "lab-old"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"export SBS_INVENTORY={tmp_path / 'sbs.yaml'}" in lines
    assert f"export OS_CLIENT_CONFIG_FILE={tmp_path / 'clouds.yaml'}" in lines
    assert "export OS_CLOUD=lab-old" in lines


def test_topologies_are_named_and_movable() -> None:
    assert lab_cli._topology("single", None).vip == "127.0.0.10"
    moved = lab_cli._topology("ha3", "127.0.3")
    assert (moved.controllers, moved.haproxy_nodes, moved.vip) == (3, 2, "127.0.3.10")
    with pytest.raises(InputError, match="--topology: unknown 'ha9'; known: single, ha3"):
        lab_cli._topology("ha9", None)
    with pytest.raises(InputError, match="--address-base: must be three octets"):
        lab_cli._topology("ha3", "10.1.2")


def test_several_controllers_a_side_refuse_glance() -> None:
    ha3 = lab_cli._topology("ha3", None)
    lab_cli._check_shape(ha3, ("keystone", "nova"))
    with pytest.raises(InputError, match="glance need one controller a side"):
        lab_cli._check_shape(ha3, ("keystone", "glance"))
    with pytest.raises(InputError, match="placement, neutron need one controller"):
        lab_cli._check_shape(ha3, ("keystone", "placement", "nova", "neutron"))
    lab_cli._check_shape(lab_cli._topology("single", None), ("keystone", "glance"))
