"""`sbs computes upgrade`: the rolling in-place upgrade of the compute nodes, after the
cutover (its runbook: `sbs plan computes`)."""

from __future__ import annotations

from typing import Annotated

import typer

from sidebyside.cli.common import (
    DEFAULT_INVENTORY,
    DryRunOpt,
    InventoryOpt,
    JsonOpt,
    RestartOpt,
    StateDirOpt,
    YesOpt,
)
from sidebyside.cli.phases import run_phase

app = typer.Typer(no_args_is_help=True)


@app.command("upgrade")
def upgrade(inventory: InventoryOpt = DEFAULT_INVENTORY, state_dir: StateDirOpt = None,
            as_json: JsonOpt = False, dry_run: DryRunOpt = False, yes: YesOpt = False,
            restart: RestartOpt = False,
            batch_size: Annotated[int | None, typer.Option(
                "--batch-size", min=1,
                help="Nodes upgraded at once (default: computes.batch_size).")] = None
            ) -> None:
    """Upgrade every compute node in place under the new control plane, batch by batch;
    a re-run resumes with the node that did not finish."""
    run_phase("computes-upgrade", inventory, state_dir, as_json, dry_run, yes, restart,
              batch_size=batch_size)
