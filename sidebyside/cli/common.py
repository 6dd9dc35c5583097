"""Options shared by every command, and the few things all commands do alike."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from sidebyside.engine.environment import Environment, open_environment
from sidebyside.errors import Aborted, InputError

InventoryOpt = Annotated[Path, typer.Option(
    "-i", "--inventory", envvar="SBS_INVENTORY", help="Inventory YAML file.",
    show_default=True)]
StateDirOpt = Annotated[Path | None, typer.Option(
    "--state-dir", envvar="SBS_STATE_DIR",
    help="Journal and state (default ~/.local/state/sbs/<environment>).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
RestartOpt = Annotated[bool, typer.Option(
    "--restart", help="Start a new run instead of resuming an interrupted one.")]

DEFAULT_INVENTORY = Path("sbs.yaml")


def environment(inventory: Path, state_dir: Path | None, *,
                check_secrets: bool = False) -> Environment:
    return open_environment(inventory, state_dir, check_secrets=check_secrets)


def confirm(question: str, yes: bool) -> None:
    """Ask before changing anything. Raises Aborted on no, InputError without a tty."""
    if yes:
        return
    if not sys.stdin.isatty() and not os.environ.get("SBS_ASSUME_TTY"):
        raise InputError("confirmation needed but there is no terminal",
                         hint="pass --yes to run unattended")
    if not typer.confirm(question, default=False, err=True):
        raise Aborted("not confirmed; nothing was changed")
