"""A real process running a plan whose steps write marker files.

Used by the crash tests: step `slow` writes its marker, then sleeps until killed.
Usage: python crashy_run.py STATE_DIR WORK_DIR [slow_seconds]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from sidebyside.engine.executor import Executor
from sidebyside.engine.journal import Journal
from sidebyside.engine.lock import RunLock
from sidebyside.plan.model import Changes, Plan, Step

state, work = Path(sys.argv[1]), Path(sys.argv[2])
slow_seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0


class Marker:
    def __init__(self, sleep_after: float = 0.0) -> None:
        self.sleep_after = sleep_after

    def run(self, step, ctx):
        marker = work / step.id
        marker.write_text(str(int(marker.read_text()) + 1) if marker.exists() else "1")
        (work / "ready").write_text(step.id)
        time.sleep(self.sleep_after)
        return {"marker": str(marker)}

    def verify(self, step, ctx):
        # A step is complete when its marker exists and the "commit" file says so.
        return (work / f"{step.id}.committed").exists()


class Commit(Marker):
    def run(self, step, ctx):
        result = super().run(step, ctx)
        (work / f"{step.id}.committed").write_text("yes")
        return result


plan = Plan(command="prepare", environment="crash", steps=(
    Step(id="prepare.one", action="commit", title="one", changes=Changes.NEW_SIDE),
    Step(id="prepare.slow", action="slow", title="slow", changes=Changes.NEW_SIDE),
    Step(id="prepare.three", action="commit", title="three", changes=Changes.NEW_SIDE),
))
with RunLock(state, "prepare"):
    Executor(Journal(state), {"commit": Commit(), "slow": Marker(slow_seconds)}).execute(plan)
print("finished")
