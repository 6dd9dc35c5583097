"""Pure planning: which steps, in which order, for prepare / cutover / rollback."""

from sidebyside.plan.builder import build_plan
from sidebyside.plan.model import Changes, Plan, Step

__all__ = ["Changes", "Plan", "Step", "build_plan"]
