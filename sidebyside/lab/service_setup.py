"""The one-time set-up of the old controllers' services, as a deployment does it:
keystone bootstrapped, glance registered and synced, nova's databases and cells, and
the seed data every test expects (adapter: runs each release's own tools)."""

from __future__ import annotations

import getpass
import grp
import json
import os
import shutil
from pathlib import Path

from sidebyside.lab import render
from sidebyside.lab.files import write_file
from sidebyside.lab.layout import LabLayout
from sidebyside.lab.processes import run_tool
from sidebyside.lab.state import LabState


def _old_bin(state: LabState, service: str) -> Path:
    return Path(state.venvs[service][state.spec.from_release]) / "bin"


def _old_etc(layout: LabLayout, service: str) -> Path:
    """The service's /etc on the first old controller."""
    return layout.etc(layout.topology.controller("old").dir, service)


def keystone(layout: LabLayout, state: LabState, passwords: dict[str, str]) -> None:
    """db_sync, fernet and credential keys, bootstrap with endpoints on the VIP.
    Raises StepFailed."""
    conf = _old_etc(layout, "keystone") / "keystone.conf"
    manage = [str(_old_bin(state, "keystone") / "keystone-manage"), "--config-file", str(conf)]
    user, group = getpass.getuser(), grp.getgrgid(os.getgid()).gr_name
    run_tool([*manage, "db_sync"], what="keystone-db-sync")
    for repository in ("fernet_setup", "credential_setup"):
        run_tool([*manage, repository, "--keystone-user", user, "--keystone-group", group],
                 what=f"keystone-{repository}")
    topology = layout.topology
    vip_url = f"http://{topology.vip}:{topology.port('keystone')}/v3"
    run_tool([*manage, "bootstrap", "--bootstrap-username", "admin",
              "--bootstrap-project-name", "admin", "--bootstrap-role-name", "admin",
              "--bootstrap-service-name", "keystone", "--bootstrap-region-id", render.REGION,
              "--bootstrap-admin-url", vip_url, "--bootstrap-internal-url", vip_url,
              "--bootstrap-public-url", vip_url],
             env={"OS_BOOTSTRAP_PASSWORD": passwords["admin"]}, what="keystone-bootstrap")


def share_keystone_keys(layout: LabLayout) -> None:
    """The fernet and credential keys of the first old controller on the others, as
    an operator's key distribution does: any controller validates any token."""
    first, *others = layout.topology.side_controllers("old")
    for repository in ("fernet-keys", "credential-keys"):
        source = layout.etc(first.dir, "keystone") / repository
        for controller in others:
            target = layout.etc(controller.dir, "keystone") / repository
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(source, target)
            os.chmod(target, source.stat().st_mode & 0o7777)


def register(layout: LabLayout, passwords: dict[str, str], service: str) -> None:
    """The service's user and endpoints in keystone, through the VIP."""
    from sidebyside.lab import seed  # openstacksdk takes seconds to import

    conn = seed.connect(layout.clouds_yaml, "lab-old")
    seed.register_service(conn, service, passwords[f"{service}-service"],
                          url=render.vip_url(layout.topology, service))


def horizon_static(layout: LabLayout, state: LabState, side: str) -> None:
    """Horizon's static files collected and compressed offline into STATIC_ROOT on
    each controller of `side`, with its release's manage.py, as a deployment does
    before the dashboard serves. Raises StepFailed."""
    python = Path(state.venvs["horizon"][state.spec.side_release(side)]) / "bin" / "python"
    for controller in layout.topology.side_controllers(side):
        manage = [str(python), str(layout.dashboard_share(controller.dir) / "manage.py")]
        run_tool([*manage, "collectstatic", "--noinput"],
                 what=f"{controller.name}-horizon-collectstatic")
        run_tool([*manage, "compress", "--force"], what=f"{controller.name}-horizon-compress")


def glance_db(layout: LabLayout, state: LabState) -> None:
    """Raises StepFailed."""
    conf = _old_etc(layout, "glance") / "glance-api.conf"
    run_tool([str(_old_bin(state, "glance") / "glance-manage"), "--config-file", str(conf),
              "db_sync"], what="glance-db-sync")


def nova(layout: LabLayout, state: LabState) -> None:
    """Databases and cell mappings of nova: the cell mappings store the old servers'
    database and broker URLs literally, the trap a real upgrade must handle. The URLs
    come from nova.conf ([database] connection, [DEFAULT] transport_url), never from
    the command line. Raises StepFailed."""
    conf = _old_etc(layout, "nova") / "nova.conf"
    manage = [str(_old_bin(state, "nova") / "nova-manage"), "--config-file", str(conf)]
    run_tool([*manage, "api_db", "sync"], what="nova-api-db-sync")
    run_tool([*manage, "cell_v2", "map_cell0"], what="nova-map-cell0")
    run_tool([*manage, "cell_v2", "create_cell", "--name", "cell1"],
             what="nova-create-cell1", ok_codes=(0, 2))
    run_tool([*manage, "db", "sync"], what="nova-db-sync")


def nova_discover_hosts(layout: LabLayout, state: LabState) -> None:
    """The compute node mapped into cell1, as `nova-manage cell_v2 discover_hosts`
    does after a deployment adds one. Raises StepFailed."""
    conf = _old_etc(layout, "nova") / "nova.conf"
    run_tool([str(_old_bin(state, "nova") / "nova-manage"), "--config-file", str(conf),
              "cell_v2", "discover_hosts", "--verbose"], what="nova-discover-hosts")


def placement_db(layout: LabLayout, state: LabState) -> None:
    """Raises StepFailed."""
    conf = _old_etc(layout, "placement") / "placement.conf"
    run_tool([str(_old_bin(state, "placement") / "placement-manage"), "--config-file",
              str(conf), "db", "sync"], what="placement-db-sync")


def heat_db(layout: LabLayout, state: LabState) -> None:
    """Raises StepFailed."""
    conf = _old_etc(layout, "heat") / "heat.conf"
    run_tool([str(_old_bin(state, "heat") / "heat-manage"), "--config-file", str(conf),
              "db_sync"], what="heat-db-sync")


def cinder_db(layout: LabLayout, state: LabState) -> None:
    """Raises StepFailed."""
    conf = _old_etc(layout, "cinder") / "cinder.conf"
    run_tool([str(_old_bin(state, "cinder") / "cinder-manage"), "--config-file", str(conf),
              "db", "sync"], what="cinder-db-sync")


def neutron_db(layout: LabLayout, state: LabState) -> None:
    """Raises StepFailed."""
    etc = _old_etc(layout, "neutron")
    run_tool([str(_old_bin(state, "neutron") / "neutron-db-manage"), "--config-file",
              str(etc / "neutron.conf"), "--config-file",
              str(etc / "plugins" / "ml2" / "ml2_conf.ini"), "upgrade", "heads"],
             what="neutron-db-upgrade")


def seed_old_cloud(layout: LabLayout, state: LabState, passwords: dict[str, str]) -> None:
    """Projects, users and an image through openstacksdk; what was made goes to
    `<state>/seed.json`, the expectations of the tests."""
    from sidebyside.lab import seed  # openstacksdk takes seconds to import

    conn = seed.connect(layout.clouds_yaml, "lab-old")
    facts = seed.seed(conn, user_passwords={u: passwords[u] for u in seed.USERS},
                      with_image="glance" in state.spec.services)
    if state.spec.has_compute and "glance" in state.spec.services:
        facts.update(seed.seed_cloud(conn, image_id=facts["images"][seed.IMAGE_NAME]["id"]))
        if "cinder" in state.spec.served:
            facts.update(seed.seed_volume(
                conn, server_id=facts["servers"][seed.SERVER]["id"]))
    if "heat" in state.spec.served:
        facts.update(seed.seed_stack(conn))
    write_file(layout.state_dir / "seed.json", json.dumps(facts, indent=2) + "\n",
               mode=0o644)
