"""Run one piece of work on every host of a step, in parallel, resumably.

Each host's result is journaled as a fact keyed by step and host, so a resumed
step re-runs only the hosts that did not finish; one host's failure fails the
step naming that host (after the others have finished, so nothing is left
half-started).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from sidebyside.engine.executor import StepContext
from sidebyside.engine.journal import Journal
from sidebyside.errors import SbsError, StepFailed
from sidebyside.redact import redact

DEFAULT_PARALLEL = 4


def fleet_key(run_id: int, step_id: str, host: str) -> str:
    # Keyed by run too: a later run of the same step (a second cutover after a
    # rollback, or --restart) must act on every host again.
    return f"fleet:{run_id}:{step_id}:{host}"


def host_results(journal: Journal, run_id: int, step_id: str) -> dict[str, dict[str, Any]]:
    """host -> {"done_at": epoch seconds, "result": ...} of every host the step finished
    in this run (what a resume will not run again), in the order they finished."""
    prefix = fleet_key(run_id, step_id, "")
    return {key[len(prefix):]: {"done_at": at, "result": value}
            for key, (value, at) in journal.facts_under(prefix).items()}


def run_on_hosts(ctx: StepContext, hosts: Sequence[str],
                 work: Callable[[str], dict[str, Any] | None], *,
                 max_parallel: int = DEFAULT_PARALLEL) -> dict[str, Any]:
    """Call work(host) for every host not yet done in this step.

    Returns {host: result}. Raises StepFailed naming every failed host.
    """
    todo = [h for h in hosts if ctx.fact(fleet_key(ctx.run_id, ctx.step.id, h)) is None]
    done_before = [h for h in hosts if h not in todo]
    for host in done_before:
        ctx.log(f"{host}: already done in an earlier attempt")
    results: dict[str, Any] = {h: ctx.fact(fleet_key(ctx.run_id, ctx.step.id, h))
                               for h in done_before}
    failures: dict[str, str] = {}

    def one(host: str) -> tuple[str, dict[str, Any] | None, str | None]:
        try:
            return host, work(host) or {}, None
        except SbsError as exc:
            return host, None, exc.message
        except Exception as exc:  # noqa: BLE001 - reported per host, never swallowed
            return host, None, f"{type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(max_workers=max(1, min(max_parallel, len(todo) or 1))) as pool:
        futures = [pool.submit(one, host) for host in todo]
        # Journal each host as soon as it finishes (in this thread: the journal's
        # connection is not shared), so a crash never re-runs a host that was done.
        for future in as_completed(futures):
            host, result, error = future.result()
            if error is None:
                ctx.set_fact(fleet_key(ctx.run_id, ctx.step.id, host), result)
                results[host] = result
                ctx.log(f"{host}: done")
            else:
                failures[host] = redact(error)
                ctx.log(f"{host}: FAILED: {failures[host]}")
    if failures:
        detail = "; ".join(f"{h}: {e}" for h, e in failures.items())
        raise StepFailed(ctx.step.id, f"failed on {', '.join(failures)} ({detail})",
                         hint="re-run the command: only the failed hosts are retried")
    return results
