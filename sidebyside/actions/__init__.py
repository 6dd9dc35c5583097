"""Step actions: the glue from plan steps to effects (db copy, config, traffic, ...).

`build_actions` is the one registry the runner uses. Each effect package exposes
its own actions (`sidebyside.actions.upgrade`, ...); the few that only combine
inventory facts with a Host live here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sidebyside.actions.cloud import cloud_actions
from sidebyside.actions.config import ConfigAction
from sidebyside.actions.data import (
    BackupAction,
    CopyAction,
    RecordPositionAction,
    ReportNewWritesAction,
    RequireVerifiedCopy,
    VerifyOldUntouchedAction,
)
from sidebyside.actions.deploy import DeployAction
from sidebyside.actions.hosts import Hosts
from sidebyside.actions.service_control import ServiceAction
from sidebyside.actions.sides import ProveSidesDistinct
from sidebyside.actions.traffic import traffic_actions
from sidebyside.actions.upgrade import upgrade_actions
from sidebyside.engine.environment import Environment
from sidebyside.engine.executor import Action


def build_actions(env: Environment, options: Mapping[str, Any],
                  hosts: Hosts | None = None) -> dict[str, Action]:
    """Every action the plans use, bound to this environment.

    `hosts` is the caller's, and the caller closes it when the command ends (see
    cli/phases.py); without one the actions get their own, which nobody closes."""
    inv = env.inventory
    hosts = hosts or Hosts(inv)
    registry: dict[str, Action] = {
        "start_service": ServiceAction(inv, hosts, "start"),
        "stop_service": ServiceAction(inv, hosts, "stop"),
        "prove_sides_distinct": ProveSidesDistinct(inv, hosts),
    }
    registry.update(upgrade_actions(inv, hosts))
    registry.update(traffic_actions(inv, hosts, hosts.path))
    registry.update(cloud_actions(inv))
    # Nothing may upgrade a copy that did not verify.
    registry["db_sync"] = RequireVerifiedCopy(registry["db_sync"], env.state_dir)
    registry["update_cell_mappings"] = RequireVerifiedCopy(registry["update_cell_mappings"],
                                                           env.state_dir)
    registry.update({
        "deploy": DeployAction(inv, env.state_dir),
        "migrate_config": ConfigAction(inv, hosts, env.state_dir),
        "backup": BackupAction(inv, env.state_dir),
        "copy_databases": CopyAction(inv, env.state_dir),
        "record_position": RecordPositionAction(inv, env.state_dir),
        "report_new_writes": ReportNewWritesAction(inv, env.state_dir),
        "verify_old_untouched": VerifyOldUntouchedAction(inv, env.state_dir),
    })
    return registry
