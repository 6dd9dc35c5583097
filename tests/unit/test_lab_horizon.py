"""Horizon in the lab (pure parts): its local_settings.py, its program, the inventory's
dashboard URLs, the share directory's link, and prepare's static-assets step."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

from sidebyside.inventory import parse_inventory
from sidebyside.lab import render
from sidebyside.lab.install import dashboard_share
from sidebyside.lab.layout import TOPOLOGIES, LabLayout
from sidebyside.lab.programs import service_programs
from sidebyside.plan.builder import plan_prepare

TOPOLOGY = replace(TOPOLOGIES["cloud"], address_base="127.0.8")
LAYOUT = LabLayout(Path("/srv/lab"), TOPOLOGY)
SPEC = render.LabSpec(from_release="2025.1", to_release="2026.1",
                      services=("keystone", "horizon"), topology=TOPOLOGY)


def settings_of(text: str) -> dict[str, object]:
    """The literal top-level settings of a rendered file (it is never run)."""
    found = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                found[node.targets[0].id] = ast.unparse(node.value)
    return found


def test_local_settings_reach_keystone_through_the_vip_without_memcached() -> None:
    text = render.horizon_local_settings(LAYOUT, "old", "2025.1", secret_key="k" * 24)
    settings = settings_of(text)
    assert settings["OPENSTACK_HOST"] == "127.0.8.10"  # the VIP, as an operator's
    assert settings["OPENSTACK_KEYSTONE_URL"] == "'http://%s:25000/v3' % OPENSTACK_HOST"
    assert settings["ALLOWED_HOSTS"] == ["127.0.8.10", "127.0.8.11", "localhost"]
    assert settings["SESSION_ENGINE"] == "django.contrib.sessions.backends.signed_cookies"
    assert settings["SECRET_KEY"] == "k" * 24 and settings["COMPRESS_OFFLINE"] is True
    assert settings["STATIC_ROOT"] == "/srv/lab/old/var/lib/openstack-dashboard/static"
    assert settings["DEBUG"] is False


def test_the_new_side_has_its_own_static_root_and_address() -> None:
    settings = settings_of(render.horizon_local_settings(LAYOUT, "new", "2026.1",
                                                         secret_key="k" * 24))
    assert settings["STATIC_ROOT"] == "/srv/lab/new/var/lib/openstack-dashboard/static"
    assert "127.0.8.12" in settings["ALLOWED_HOSTS"]  # type: ignore[operator]


def test_the_dashboard_program_serves_its_static_root_and_reads_this_controllers_settings(
) -> None:
    share, static = LAYOUT.dashboard_share("old"), LAYOUT.dashboard_static("old")
    (program,) = service_programs(
        "horizon", venv=Path("/v/horizon-2025.1"), etc=LAYOUT.etc("old", "horizon"),
        address="127.0.8.11", port=TOPOLOGY.port("horizon"),
        pid_file=lambda suffix: Path("/srv/lab/run/old-horizon.pid"),
        health_path=render.HEALTH_PATH["horizon"], share=share, static=static)
    assert program.health_path == "/auth/login/" and TOPOLOGY.port("horizon") == 20080
    assert "--app" in program.argv and "django.core.wsgi:get_wsgi_application()" in program.argv
    assert f"--static=/static/={static}" in program.argv
    assert program.env == {"DJANGO_SETTINGS_MODULE": "openstack_dashboard.settings",
                           "PYTHONPATH": str(share)}
    assert LAYOUT.etc("old", "horizon") == Path("/srv/lab/old/etc/openstack-dashboard")


def test_the_share_directory_links_local_settings_to_etc(tmp_path: Path) -> None:
    assert dashboard_share(tmp_path) is True
    share = tmp_path / "usr" / "share" / "openstack-dashboard"
    assert (share / "local" / "local_settings.py").readlink() == \
        tmp_path / "etc" / "openstack-dashboard" / "local_settings.py"
    assert "execute_from_command_line" in (share / "manage.py").read_text()
    assert dashboard_share(tmp_path) is False  # nothing to change the second time


def test_inventory_names_the_dashboard_through_the_vip_and_on_each_side() -> None:
    data = render.inventory(LAYOUT, SPEC, python="/usr/bin/python3",
                            db_password_files={"old": Path("/o"), "new": Path("/n")})
    inv = parse_inventory(data, "lab")
    assert inv.ha.dashboard_url == "http://127.0.8.10:20080/"
    assert inv.old.services["horizon"].url == "http://127.0.8.11:20080/"
    assert inv.new.services["horizon"].url == "http://127.0.8.12:20080/"
    assert "horizon" in inv.ha.haproxy.backends  # type: ignore[union-attr]


def test_prepare_builds_static_assets_after_the_config_and_before_the_start() -> None:
    data = render.inventory(LAYOUT, SPEC, python="/usr/bin/python3",
                            db_password_files={"old": Path("/o"), "new": Path("/n")})
    ids = [step.id for step in plan_prepare(parse_inventory(data, "lab"))]
    built = ids.index("prepare.static-assets.horizon")
    assert ids.index("prepare.config") < built < ids.index("prepare.start-new.horizon")
    step = plan_prepare(parse_inventory(data, "lab"))[built]
    assert step.action == "build_static_assets" and step.hosts == ("new-ctl1",)
    assert "collectstatic, compress" in step.title
