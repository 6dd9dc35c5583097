"""Resident memory per lab side: the sum is by side, and a process's forked workers count."""

from __future__ import annotations

import os
import subprocess
import sys

from sidebyside.lab import processes
from sidebyside.lab.status import memory_by_side


def test_memory_is_summed_by_side() -> None:
    rows = [{"side": "old", "rss_mib": 100.0}, {"side": "old", "rss_mib": 50.5},
            {"side": "new", "rss_mib": 0.0}, {"side": "", "rss_mib": 7.0}]
    assert memory_by_side(rows) == {"old": 150.5, "new": 0.0, "": 7.0}


def test_a_forked_worker_counts_with_its_parent() -> None:
    alone = processes.resident_mib({os.getpid()})
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in processes.family(os.getpid())
        assert processes.resident_mib({os.getpid()}) > alone
    finally:
        child.kill()
        child.wait()
    assert processes.resident_mib(set()) == 0.0
