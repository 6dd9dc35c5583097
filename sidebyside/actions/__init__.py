"""Step actions: the glue from plan steps to effects (db copy, config, traffic, ...).

`build_actions` is the one registry the runner uses; each module here implements
a few actions over the effect packages and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sidebyside.engine.executor import Action
from sidebyside.engine.session import Environment


def build_actions(env: Environment, options: Mapping[str, Any]) -> dict[str, Action]:
    """Every action the plans use, bound to this environment."""
    registry: dict[str, Action] = {}
    return registry
