"""Options shared by every command, and the few things all commands do alike."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from sidebyside.cli import output
from sidebyside.engine.environment import Environment, open_environment
from sidebyside.engine.journal import Journal
from sidebyside.errors import Aborted, InputError, SbsError

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


def existing_journal(env: Environment) -> Journal | None:
    """The environment's journal when a run has written one, else None: a read-only
    command (status, plan, verify) must not create the state dir by opening it."""
    return env.journal if (env.state_dir / "journal.db").exists() else None


@contextmanager
def shown_in_json(as_json: bool) -> Iterator[None]:
    """With --json the command's report, failure included, is the document on stdout: an
    SbsError raised inside then ends the command with the error's exit code alone (no
    second document). Without --json it is raised and printed as usual."""
    try:
        yield
    except SbsError as exc:
        if not as_json:
            raise
        raise typer.Exit(exc.exit_code) from exc


def confirm(question: str, yes: bool) -> None:
    """Ask before changing anything. Raises Aborted on no, InputError without a tty."""
    if yes:
        return
    if not sys.stdin.isatty() and not os.environ.get("SBS_ASSUME_TTY"):
        raise InputError("confirmation needed but there is no terminal",
                         hint="pass --yes to run unattended")
    if not typer.confirm(question, default=False, err=True):
        raise Aborted("not confirmed; nothing was changed")


def run_app(app: typer.Typer) -> NoReturn:
    """Run a command-line app and exit: the one place errors become exit codes (`sbs`,
    and `python -m sidebyside.cli.lab` which the lab's inventory calls)."""
    as_json = "--json" in sys.argv
    try:
        # Without standalone mode click returns a typer.Exit's code instead of exiting.
        result = app(standalone_mode=False)
    except SbsError as exc:
        output.print_error(exc, as_json)
        sys.exit(exc.exit_code)
    except typer.Abort:
        output.err_console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        output.err_console.print("interrupted")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # the command-line parser's own errors (usage, bad value)
        show = getattr(exc, "show", None)
        code = getattr(exc, "exit_code", None)
        if show is None or not isinstance(code, int):
            raise
        show()
        sys.exit(code)
    sys.exit(result if isinstance(result, int) else 0)
