"""traffic/waiting.py: wait_until reports each wait and the last result."""

from __future__ import annotations

import itertools

from sidebyside.traffic.waiting import wait_until


def test_wait_until_reports_each_wait_and_the_last_result() -> None:
    counter = itertools.count()
    lines: list[str] = []
    done, value = wait_until(lambda: next(counter), lambda n: n >= 3, timeout=5,
                             interval=0.001, waiting_for=lambda n: f"n={n}",
                             on_wait=lines.append)
    assert (done, value) == (True, 3)
    assert [line.split(": ")[-1] for line in lines] == ["n=0", "n=1", "n=2"]
    done, value = wait_until(lambda: 7, lambda n: n == 0, timeout=0.05, interval=0.01,
                             waiting_for=str)
    assert (done, value) == (False, 7)
