"""The effect packages do their one job and know nothing of plans or runs: none of
them imports sidebyside.engine, sidebyside.plan or the glue (sidebyside.actions), not
even inside a function. The actions package is what binds them to plan steps."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "sidebyside"
EFFECT_PACKAGES = ("traffic", "upgrade", "cloud", "deploy", "db", "config", "remote")
FORBIDDEN = ("sidebyside.engine", "sidebyside.plan", "sidebyside.actions")


def imported_modules(source: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in `source`, at any depth; `from sidebyside import
    plan` counts as sidebyside.plan."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


@pytest.mark.parametrize("package", EFFECT_PACKAGES)
def test_an_effect_package_imports_neither_engine_nor_plan(package: str) -> None:
    offending = [f"{source.relative_to(PACKAGE.parent)}:{line}: {module}"
                 for source in sorted((PACKAGE / package).rglob("*.py"))
                 for line, module in imported_modules(source)
                 if any(module == f or module.startswith(f + ".") for f in FORBIDDEN)]
    assert offending == []
