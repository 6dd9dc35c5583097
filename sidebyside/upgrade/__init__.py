"""Service upgrades on the new controller: pre-flight checks, `<service>-status
upgrade check`, nova cell mappings and every service's db_sync, in catalog order.

Effects go through `sidebyside.remote.base.Host`; the parsing and deciding is pure
and lives beside it (`status.parse_status_output`, `cells.parse_cell_list`,
`cells.plan_cell_updates`, `release_notes.match_*`).
"""

from sidebyside.upgrade.commands import CommandFailed, StageRun, SyncResult
from sidebyside.upgrade.db_sync import run_db_sync

__all__ = ["CommandFailed", "StageRun", "SyncResult", "run_db_sync"]
