"""`make bench-cutover`: a full cutover of the whole-cloud lab under a bounded load
through the VIP.

The lab is the whole cloud (`sbs lab up --topology cloud`: keystone, glance, placement,
nova with its conductor, scheduler and two fake-driver compute nodes, neutron-server,
cinder with its scheduler and fake-driver volume service, horizon, heat with its engine),
2025.1 -> 2026.1, on its own addresses (`--address-base 127.0.6`, lab dir `.lab-bench`)
so it never meets another lab. While `sbs cutover` runs, the load reads every service
through the VIP with an admin token at one total rate (keystone projects, glance
images, placement resource providers, nova servers of all projects, neutron networks,
cinder volumes of all projects, heat stacks, and horizon's login page, each in turn),
with keystone logins and project creates among them. Per service: the
requests, the failed ones (and those in flight during the HAProxy switch), the longest
unavailability window, the served latency, and the write window (from that service's
`cutover.freeze-writes.<service>` step to `cutover.thaw-writes`), each failed read with
the cutover step running then. Written to bench/results/cutover.md and cutover.json.
Not a timed test: a measurement, to compare runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo import ROOT, Load, banner, issue_token, sbs, token_body, vip_auth  # noqa: E402

from sidebyside.inventory import load_inventory  # noqa: E402
from sidebyside.traffic.loadgen import (  # noqa: E402
    LoadResult,
    ReadTarget,
    RequestRecord,
    WriteLoad,
    request_stats,
    run_load,
)

RESULTS = ROOT / "bench" / "results"
SERVICES = ("keystone", "glance", "placement", "nova", "neutron", "cinder", "horizon",
            "heat")
# service -> (its catalog type, the read under load below its public endpoint); horizon
# has no catalog entry: its read is the login page below the inventory's dashboard URL
READS = {"keystone": ("identity", "/projects"),
         "glance": ("image", "/v2/images"),
         "placement": ("placement", "/resource_providers"),
         "nova": ("compute", "/servers/detail?all_tenants=1"),
         "neutron": ("network", "/v2.0/networks"),
         "cinder": ("volumev3", "/volumes/detail?all_tenants=1"),
         "heat": ("orchestration", "/stacks")}
DASHBOARD_READ = "auth/login/"
KIND_LABEL = {"get": "reads", "token": "logins (POST /v3/auth/tokens)",
              "write": "writes (POST /v3/projects)"}
RATE = 10.0
TIMEOUT = 30.0  # a request fails on an error answer or after this without one
WRITE_EVERY = 10
TOKEN_EVERY = 20

StepTimes = list[tuple[str, float, float]]


def step_times(state: Path) -> StepTimes:
    """(step id, started, ended) in wall-clock seconds of the last cutover run."""
    db = sqlite3.connect(state / "journal.db")
    run = db.execute("SELECT id FROM runs WHERE command='cutover' ORDER BY id DESC LIMIT 1"
                     ).fetchone()[0]
    return [(row[0], float(row[1]), float(row[2])) for row in db.execute(
        "SELECT step_id, started, ended FROM steps WHERE run_id=? AND ended IS NOT NULL "
        "ORDER BY seq", (run,))]


def db_sync_chain_seconds(state: Path) -> dict[str, float]:
    """Service -> seconds of its db_sync chain in the last cutover run (the result of
    its `cutover.db-sync` step; empty when that step did not finish)."""
    db = sqlite3.connect(state / "journal.db")
    row = db.execute(
        "SELECT s.result FROM steps s JOIN runs r ON r.id = s.run_id WHERE "
        "r.command='cutover' AND s.step_id='cutover.db-sync' AND s.result IS NOT NULL "
        "ORDER BY r.id DESC LIMIT 1").fetchone()
    if row is None:
        return {}
    return {svc: float(seconds) for svc, seconds in
            json.loads(row[0]).get("chain_seconds", {}).items() if seconds is not None}


def old_data_bytes(inventory: Path) -> int:
    """InnoDB data and index bytes of the old side's service databases."""
    from sidebyside.db.client import ReadOnlySession
    from sidebyside.db.endpoint import endpoint_from_inventory
    from sidebyside.services.catalog import databases_of
    inv = load_inventory(inventory)
    databases = databases_of(list(inv.ordered_services))
    marks = ", ".join(["%s"] * len(databases))
    with ReadOnlySession(endpoint_from_inventory(inv.old.database)) as session:
        return int(session.value(
            "SELECT COALESCE(SUM(data_length + index_length), 0) FROM "
            f"information_schema.tables WHERE table_schema IN ({marks})",
            tuple(databases)) or 0)


def public_endpoints(catalog: list[dict[str, Any]]) -> dict[str, str]:
    """Pure: catalog service type -> its public URL, from GET /v3/auth/catalog."""
    return {entry["type"]: endpoint["url"].rstrip("/") for entry in catalog
            for endpoint in entry.get("endpoints", []) if endpoint.get("interface") == "public"}


def read_targets(endpoints: dict[str, str], token: str,
                 services: tuple[str, ...] = SERVICES,
                 dashboard_url: str | None = None) -> list[ReadTarget]:
    """Pure: each service's read under load on its public endpoint, with the token;
    horizon's on `dashboard_url`, without (its login page). Raises SystemExit naming a
    service the catalog has no public endpoint for (horizon: no dashboard URL)."""
    missing = [s for s in services if (s == "horizon" and not dashboard_url)
               or (s != "horizon" and READS[s][0] not in endpoints)]
    if missing:
        raise SystemExit(f"bench: no public endpoint in the catalog for {', '.join(missing)}")
    return [ReadTarget(service=s, url=str(dashboard_url).rstrip("/") + "/" + DASHBOARD_READ)
            if s == "horizon" else
            ReadTarget(service=s, url=endpoints[READS[s][0]] + READS[s][1],
                       headers={"X-Auth-Token": token}) for s in services]


def vip_read_targets(clouds_file: Path, inventory_file: Path) -> list[ReadTarget]:
    """The reads of every service through the VIP, with an admin token (the lab-vip
    cloud is admin: nova lists all projects' servers only for an admin), horizon's on
    the inventory's dashboard URL."""
    dashboard = load_inventory(inventory_file).ha.dashboard_url
    auth_url = vip_auth(clouds_file)["auth_url"].rstrip("/")
    token = issue_token(clouds_file)
    request = urllib.request.Request(f"{auth_url}/auth/catalog",
                                     headers={"X-Auth-Token": token})
    with urllib.request.urlopen(request, timeout=30) as answer:
        catalog = json.load(answer)["catalog"]
    return read_targets(public_endpoints(catalog), token,
                        dashboard_url=str(dashboard) if dashboard else None)


class CloudLoad(Load):
    """demo's Load (a thread for the length of a `with` block), reading every service
    in turn at RATE requests/s in all: every TOKEN_EVERY-th request a login, every
    WRITE_EVERY-th a project create, the rest `reads`."""

    def __init__(self, clouds_file: Path, reads: list[ReadTarget]) -> None:
        super().__init__(clouds_file)
        self.reads = reads

    def _run(self) -> None:
        url = vip_auth(self.clouds_file)["auth_url"].rstrip("/")  # http://<vip>:<port>/v3
        token = self.reads[0].headers["X-Auth-Token"]
        stamp = time.strftime("%H%M%S")
        writes = WriteLoad(
            url=f"{url}/projects", every=WRITE_EVERY, headers={"X-Auth-Token": token},
            service="keystone", body=lambda i: json.dumps({"project": {
                "name": f"bench-{stamp}-{i}", "domain_id": "default"}}).encode())
        self.result = run_load(reads=self.reads, rate=RATE, max_requests=20000,
                               max_seconds=1200, token_url=f"{url}/auth/tokens",
                               token_body=token_body(self.clouds_file),
                               token_every=TOKEN_EVERY, timeout=TIMEOUT, workers=16,
                               writes=writes, stop=self.stop)


# the measurement (pure: the load's records and the journal's step times) -------------

def switch_spans(times: StepTimes) -> list[tuple[float, float]]:
    """Wall-clock spans of the HAProxy switch steps (and a VIP move)."""
    return [(b, e) for s, b, e in times if s.startswith("cutover.switch.")
            or s == "cutover.move-vip"]


def in_flight_during(record: RequestRecord, wall_start: float,
                     spans: list[tuple[float, float]]) -> bool:
    """Whether the request was in flight at some time of one of `spans` (wall clock)."""
    begin = wall_start + record.started
    end = begin + record.duration
    return any(begin <= e and end >= b for b, e in spans)


def step_at(times: StepTimes, wall: float) -> str:
    """The step running at `wall` (the one that started last before it), '-' before the
    first; `(after <step>)` between steps."""
    running = "-"
    for step, begin, end in times:
        if begin <= wall <= end:
            return step
        if begin <= wall:
            running = f"(after {step})"
    return running


def write_windows(times: StepTimes, services: tuple[str, ...]) -> dict[str, float | None]:
    """Per service: seconds from its `cutover.freeze-writes.<service>` start to
    `cutover.thaw-writes`' end (None when the run has either not)."""
    starts = {s.removeprefix("cutover.freeze-writes."): b for s, b, _ in times
              if s.startswith("cutover.freeze-writes.")}
    thaw = next((e for s, _, e in times if s == "cutover.thaw-writes"), None)
    return {svc: (round(thaw - starts[svc], 1) if svc in starts and thaw is not None
                  else None) for svc in services}


WINDOW_PER_SLOWEST_CHAIN = 1.5  # the goal: the window within 1.5 x the slowest chain


def measure(result: LoadResult, times: StepTimes, cutover_seconds: float,
            cutover_rc: int, services: tuple[str, ...] = SERVICES,
            chains: dict[str, float] | None = None) -> dict[str, Any]:
    """Per service and kind of request: the loadgen's stats, the failures in flight
    during the switch, and each failure with the step running then; per service the
    write window against the goal (WINDOW_PER_SLOWEST_CHAIN x the slowest db_sync chain
    of the same run, `chains`: service -> seconds); the cutover's step timings."""
    spans = switch_spans(times)
    durations = {s: e - b for s, b, e in times}
    db_phase = sum(d for s, d in durations.items()
                   if s in ("cutover.final-copy", "cutover.db-sync"))
    chains = chains or {}
    slowest = max(chains, key=lambda svc: chains[svc]) if chains else None
    rows: list[dict[str, Any]] = []
    for service in services:
        for kind in KIND_LABEL:
            group = [r for r in result.records if r.service == service and r.kind == kind]
            if not group:
                continue
            failed = [r for r in group if not r.ok]
            steps: dict[str, int] = {}
            for r in failed:
                step = step_at(times, result.wall_start + r.started)
                steps[step] = steps.get(step, 0) + 1
            rows.append({"service": service, "kind": kind, **request_stats(group),
                         "failed_during_switch": sum(
                             1 for r in failed if in_flight_during(r, result.wall_start, spans)),
                         "failed_by_step": steps})
    reads_failed = {row["service"]: row["failed"] for row in rows if row["kind"] == "get"}
    failures = [{"service": r.service, "kind": r.kind, "at_s": round(r.started, 2),
                 "status": r.status, "error": r.error,
                 "step": step_at(times, result.wall_start + r.started)}
                for r in result.failures]
    return {
        "rate": result.rate, "requests": len(result.records), "stopped_by": result.stopped_by,
        "cutover_seconds": round(cutover_seconds, 1), "cutover_rc": cutover_rc,
        "per_service": rows,
        "failed_reads_by_service": reads_failed,
        "goal_failed_reads_per_service_met": all(n == 0 for n in reads_failed.values()),
        "write_window_seconds": write_windows(times, services),
        "final_sync_and_db_sync_seconds": round(db_phase, 1),
        "db_sync_chain_seconds": chains,
        "slowest_db_sync_chain": slowest,
        "slowest_db_sync_chain_s": chains[slowest] if slowest else None,
        "goal_write_window_seconds": (round(WINDOW_PER_SLOWEST_CHAIN * chains[slowest], 1)
                                      if slowest else None),
        "failures": failures,
        "steps": [{"id": s, "seconds": round(e - b, 2)} for s, b, e in times],
    }


def report(data: dict[str, Any], args: argparse.Namespace) -> str:
    def latency(row: dict[str, Any]) -> str:
        lat = row["latency"]
        return f"{lat['p50_s']} / {lat['p95_s']} / {lat['max_s']}" if lat else "-"

    def label(row: dict[str, Any]) -> str:
        if row["kind"] == "get":
            path = READS[row["service"]][1] if row["service"] in READS else \
                f"/{DASHBOARD_READ}"  # horizon: the dashboard's login page
            return f"{row['service']} reads (GET {path})"
        return f"{row['service']} {KIND_LABEL[row['kind']]}"

    goal = data["goal_write_window_seconds"]
    lines = [
        "# Cutover of the whole cloud under load", "",
        f"Generated by `scripts/bench_cutover.py` (`make bench-cutover`) on the whole-cloud "
        f"lab (`--topology cloud`: {', '.join(SERVICES)}; nova with conductor, scheduler "
        f"and two fake-driver compute nodes; {args.from_release} -> {args.to_release}), "
        f"{time.strftime('%Y-%m-%d')}: through the VIP at {data['rate']:.0f} requests/s in "
        f"all during `sbs cutover`, every {TOKEN_EVERY}th a login, every {WRITE_EVERY}th a "
        "project create, the rest reads with an admin token of each service in turn; a "
        f"request fails on an error answer or after {TIMEOUT:.0f} s without one. The cutover "
        "uses the read-only window (ha.haproxy.write_freeze, logins kept open): every old "
        "service, its workers included, keeps serving reads until the switch.", "",
        f"cutover exit code {data['cutover_rc']}, wall time {data['cutover_seconds']} s.", "",
        "**Goal: failed reads per service 0** — "
        + ("met." if data["goal_failed_reads_per_service_met"] else "NOT met: "
           + ", ".join(f"{svc} {n}" for svc, n in data["failed_reads_by_service"].items())
           + "."), "",
        "| requests | sent | failed | failed in flight during the HAProxy switch "
        "| longest unavailable s | unavailable s in all | served p50 / p95 / max s |",
        "|---|---|---|---|---|---|---|"]
    for row in data["per_service"]:
        lines.append(f"| {label(row)} | {row['requests']} | {row['failed']} | "
                     f"{row['failed_during_switch']} | {row['longest_window_s']} | "
                     f"{row['unavailable_s']} | {latency(row)} |")
    lines += ["", "Writes are refused by design in the write window (HAProxy answers 503 with "
              "Retry-After): their failures measure that window, not an outage.",
              "", "## Write window per service", "",
              "From the service's `cutover.freeze-writes.<service>` step start to the "
              "`cutover.thaw-writes` end (journal); goal: "
              f"{WINDOW_PER_SLOWEST_CHAIN} x the slowest db_sync chain of this run ("
              + (f"{data['slowest_db_sync_chain']} {data['slowest_db_sync_chain_s']} s) = "
                 f"{goal} s" if goal is not None else "not recorded: no goal)")
              + f"; the final copy and the db_sync chains took "
              f"{data['final_sync_and_db_sync_seconds']} s; chains (s): "
              + (", ".join(f"{svc} {s}" for svc, s in data["db_sync_chain_seconds"].items())
                 or "-") + ".", "",
              "| service | write window s | within the goal |", "|---|---|---|"]
    for service, seconds in data["write_window_seconds"].items():
        within = "-" if seconds is None or goal is None else (
            "yes" if seconds <= goal else "NO")
        lines.append(f"| {service} | {seconds if seconds is not None else '-'} | {within} |")
    lines += ["", "## Failed reads and logins, and the step running then", ""]
    failed_rows = [row for row in data["per_service"]
                   if row["kind"] != "write" and row["failed"]]
    for row in failed_rows:
        windows = ", ".join(f"{a}-{b} s" for a, b in row["windows"])
        by_step = ", ".join(f"{n} during {step}" for step, n in row["failed_by_step"].items())
        errors = sorted({f["error"] for f in data["failures"]
                         if f["service"] == row["service"] and f["kind"] == row["kind"]})
        lines.append(f"- {label(row)}: {row['failed']} failed ({'; '.join(errors)}), "
                     f"unavailable {windows} after the load started; {by_step}")
    if not failed_rows:
        lines.append("none")
    lines += ["", "## Step timings", "", "| step | seconds |", "|---|---|"]
    lines += [f"| {s['id']} | {s['seconds']} |" for s in data["steps"]]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lab-dir", default=str(ROOT / ".lab-bench"))
    parser.add_argument("--address-base", default="127.0.6",
                        help="the lab's loopback addresses (first three octets), apart "
                             "from every other lab")
    parser.add_argument("--from-release", default="2025.1")
    parser.add_argument("--to-release", default="2026.1")
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args()
    lab = Path(args.lab_dir)
    state = lab / "bench-state"
    inventory = lab / "sbs.yaml"
    sbs("lab", "up", "--state-dir", str(lab), "--topology", "cloud",
        "--services", ",".join(SERVICES), "--from-release", args.from_release,
        "--to-release", args.to_release, "--address-base", args.address_base)
    if state.exists():
        sbs("lab", "reset", "--state-dir", str(lab))
        shutil.rmtree(state)
    common = ["-i", str(inventory), "--state-dir", str(state)]
    try:
        banner("prepare")
        sbs("prepare", *common, "--yes")
        banner("cutover under load")
        reads = vip_read_targets(lab / "clouds.yaml", inventory)
        with CloudLoad(lab / "clouds.yaml", reads) as load:
            time.sleep(5)
            started = time.monotonic()
            cutover_rc = sbs("cutover", *common, "--yes", check=False)
            cutover_seconds = time.monotonic() - started
            time.sleep(5)
        if load.result is None:
            raise SystemExit("bench: the load generator ended without a result")
        data = measure(load.result, step_times(state), cutover_seconds, cutover_rc,
                       chains=db_sync_chain_seconds(state))
        # issue 19's record per data size: only the lab's seed data so far
        data["sizes"] = {"small": {
            "write_window_s": max((s for s in data["write_window_seconds"].values()
                                   if s is not None), default=None),
            "slowest_db_sync_chain_s": data["slowest_db_sync_chain_s"],
            "failed_reads": sum(data["failed_reads_by_service"].values()),
            "data_bytes": old_data_bytes(inventory)}}
        results = Path(args.results)
        results.mkdir(parents=True, exist_ok=True)
        # the measurement first: a report that fails must not lose a 20-minute run
        (results / "cutover.json").write_text(json.dumps(data, indent=2) + "\n")
        text = report(data, args)
        (results / "cutover.md").write_text(text)
        print(text)
        if cutover_rc == 0:
            banner("rollback (the load's writes after the thaw are on the new side)")
            sbs("rollback", *common, "--yes", "--accept-data-loss")
    finally:
        sbs("lab", "down", "--state-dir", str(lab), check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
