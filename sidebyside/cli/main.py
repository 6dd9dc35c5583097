"""The `sbs` command. Errors become exit codes in one place: cli.common.run_app."""

from __future__ import annotations

import importlib
import os

import typer

from sidebyside import __version__
from sidebyside.cli.common import run_app

app = typer.Typer(
    name="sbs", no_args_is_help=True, add_completion=False,
    help="Upgrade an OpenStack control plane side by side: prepare a new controller, "
         "cut over, roll back.")

# Commands, one module each; sub-apps mounted under their own names.
_COMMAND_MODULES = ("plan", "phases", "status", "check", "verify")
_SUB_APPS = {"db": "Copy, verify and back up databases.",
             "config": "Collect and translate service configuration.",
             "lab": "The local lab of real OpenStack services.",
             "computes": "The compute nodes: their rolling upgrade after the cutover."}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sbs {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version,
                                       is_eager=True, help="Show the version.")) -> None:
    """sbs: side-by-side OpenStack control-plane upgrades."""


for _name in _COMMAND_MODULES:
    importlib.import_module(f"sidebyside.cli.{_name}").register(app)

for _name, _help in _SUB_APPS.items():
    try:
        _module = importlib.import_module(f"sidebyside.cli.{_name}")
    except ImportError as _exc:  # a sub-app under construction must not break the others
        if _exc.name != f"sidebyside.cli.{_name}":
            raise
        continue
    app.add_typer(_module.app, name=_name, help=_help)


PRIVATE_UMASK = 0o077


def run() -> None:
    """Console-script entry point."""
    # Before anything is written: every file and directory sbs creates (state, journal,
    # backups, exports, reports) is its owner's alone unless it sets a mode itself.
    os.umask(PRIVATE_UMASK)
    run_app(app)
