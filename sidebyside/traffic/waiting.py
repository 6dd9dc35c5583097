"""The one bounded wait of the traffic layer (tenacity), logging what it waits for."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

log = logging.getLogger(__name__)

T = TypeVar("T")


def wait_until(probe: Callable[[], T], done: Callable[[T], bool], *, timeout: float,
               interval: float, waiting_for: Callable[[T], str],
               on_wait: Callable[[str], None] | None = None) -> tuple[bool, T]:
    """Call `probe` every `interval` s until `done(result)` or `timeout` s have passed.

    Returns (True, result) when done, (False, last result) on timeout; the caller turns
    a timeout into its own error, naming what was still pending. Each wait is logged
    with `waiting_for(result)`. Exceptions from `probe` propagate at once.
    """
    def before_sleep(state) -> None:  # type: ignore[no-untyped-def]
        outcome = state.outcome.result()
        line = f"waiting ({state.seconds_since_start:.1f}s of {timeout:.0f}s): " \
               f"{waiting_for(outcome)}"
        log.info(line)
        if on_wait:
            on_wait(line)

    retrying = Retrying(stop=stop_after_delay(timeout), wait=wait_fixed(interval),
                        retry=retry_if_result(lambda result: not done(result)),
                        before_sleep=before_sleep, reraise=True)
    try:
        result = retrying(probe)
    except RetryError as exc:
        return False, exc.last_attempt.result()
    return True, result
