"""Step actions: the glue from plan steps to effects (db copy, config, traffic, ...).

`ACTIONS` below is the one table from a step's `action` to the class that runs it:
to read the code of a step, look its action up here. Every class is built the same
way, from an ActionContext (inventory, hosts, state dir); `ActionSet` builds them all
for one command and owns the hosts they share:

    with ActionSet(env) as actions:
        run_command(env, "cutover", lambda _env: actions)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType

from sidebyside.actions.cloud import SnapshotResourcesAction, VerifySideAction, VerifyVipAction
from sidebyside.actions.computes import (
    FollowBusAction,
    RequireComputesOnOldReleaseAction,
    RequireNewServingAction,
    UpgradeComputesAction,
    VerifyComputesAction,
)
from sidebyside.actions.config import ConfigAction
from sidebyside.actions.context import ActionContext, HostFactory
from sidebyside.actions.data import (
    BackupAction,
    CopyAction,
    RecordPositionAction,
    ReportNewWritesAction,
    VerifyOldUntouchedAction,
    requires_verified_copy,
)
from sidebyside.actions.deploy import DeployAction
from sidebyside.actions.finalize import (
    FinalizeDbAction,
    RemoveRpcPinsAction,
    RequireAllUpgradedAction,
)
from sidebyside.actions.service_control import StartServiceAction, StopServiceAction
from sidebyside.actions.sides import ProveSidesDistinct
from sidebyside.actions.traffic import (
    DrainAction,
    FreezeWritesAction,
    MoveVipAction,
    OpenTokenIssueAction,
    SwitchTrafficAction,
    ThawWritesAction,
)
from sidebyside.actions.upgrade import (
    DbSyncChainsAction,
    PreflightAction,
    StaticAssetsAction,
    UpgradeCheckAction,
)
from sidebyside.engine.environment import Environment
from sidebyside.engine.executor import Action
from sidebyside.remote.inventory_hosts import Hosts

ActionBuilder = Callable[[ActionContext], Action]

# action kind            -> the class that runs it                       (module)
ACTIONS: Mapping[str, ActionBuilder] = MappingProxyType({
    # checks before anything is written
    "prove_sides_distinct": ProveSidesDistinct,                         # actions/sides.py
    "preflight": PreflightAction,                                       # actions/upgrade.py
    "upgrade_check": UpgradeCheckAction,                                # actions/upgrade.py
    # the new side's data and code
    "backup": BackupAction,                                             # actions/data.py
    "deploy": DeployAction,                                             # actions/deploy.py
    "copy_databases": CopyAction,                                       # actions/data.py
    "migrate_config": ConfigAction,                                     # actions/config.py
    # nothing may upgrade a copy that did not verify
    "db_sync_chains": requires_verified_copy(DbSyncChainsAction),       # actions/upgrade.py
    "build_static_assets": StaticAssetsAction,                          # actions/upgrade.py
    # services
    "start_service": StartServiceAction,                          # actions/service_control.py
    "stop_service": StopServiceAction,                            # actions/service_control.py
    # the cutover position and rollback's data checks
    "record_position": RecordPositionAction,                            # actions/data.py
    "verify_old_untouched": VerifyOldUntouchedAction,                   # actions/data.py
    "report_new_writes": ReportNewWritesAction,                         # actions/data.py
    # traffic
    "freeze_writes": FreezeWritesAction,                                # actions/traffic.py
    "open_token_issue": OpenTokenIssueAction,                           # actions/traffic.py
    "thaw_writes": ThawWritesAction,                                    # actions/traffic.py
    "drain": DrainAction,                                               # actions/traffic.py
    "switch_traffic": SwitchTrafficAction,                              # actions/traffic.py
    "move_vip": MoveVipAction,                                          # actions/traffic.py
    # compute nodes
    "follow_bus": FollowBusAction,                                      # actions/computes.py
    # after the cutover: the compute nodes' upgrade, and finalize
    "require_new_serving": RequireNewServingAction,                     # actions/computes.py
    "upgrade_computes": UpgradeComputesAction,                          # actions/computes.py
    "verify_computes": VerifyComputesAction,                            # actions/computes.py
    "require_computes_on_old_release": RequireComputesOnOldReleaseAction,  # actions/computes.py
    "require_all_upgraded": RequireAllUpgradedAction,                   # actions/finalize.py
    "remove_rpc_pins": RemoveRpcPinsAction,                             # actions/finalize.py
    "finalize_db": FinalizeDbAction,                                    # actions/finalize.py
    # verification
    "snapshot_resources": SnapshotResourcesAction,                      # actions/cloud.py
    "verify_side": VerifySideAction,                                    # actions/cloud.py
    "verify_vip": VerifyVipAction,                                      # actions/cloud.py
})


class ActionSet(Mapping[str, Action]):
    """Every action of ACTIONS, built for one environment, sharing one set of hosts.

    Use it as a context manager: on exit it closes the Hosts it opened (ssh control
    masters and their private directories), however the command ended. `hosts` is for
    tests that bring their own (fakes, or a Hosts they close themselves): those are
    not closed here. Nothing is contacted before a step asks for a host, so building
    the set opens nothing. Run options (accept_data_loss, automatic, ...) reach the
    actions per step through StepContext.options, so a cutover and the rollback that
    falls back from it use the same set.
    """

    def __init__(self, env: Environment, hosts: HostFactory | None = None) -> None:
        self._opened: Hosts | None = None
        if hosts is None:
            hosts = self._opened = Hosts(env.inventory)
        self.context = ActionContext(inventory=env.inventory, hosts=hosts,
                                     state_dir=env.state_dir)
        self._actions = {kind: build(self.context) for kind, build in ACTIONS.items()}

    def __getitem__(self, kind: str) -> Action:
        return self._actions[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._actions)

    def __len__(self) -> int:
        return len(self._actions)

    def close(self) -> None:
        """Close the hosts this set opened (each one even when another's close fails;
        the first failure is raised after)."""
        if self._opened is not None:
            self._opened.close()

    def __enter__(self) -> ActionSet:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


__all__ = ["ACTIONS", "ActionBuilder", "ActionContext", "ActionSet"]
