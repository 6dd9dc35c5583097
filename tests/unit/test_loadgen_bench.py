"""scripts/bench_cutover.py, the measurement of `make bench-cutover` (pure): the reads
of every service from the catalog, the write window per service from the journal's
step times, failures in flight during the switch and the step running at a failure,
and the report saying when the goal (no failed read in any service) is not met."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from sidebyside.traffic.loadgen import LoadResult, RequestRecord

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_cutover.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_cutover", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_cutover", module)
    spec.loader.exec_module(module)
    return module


WALL = 1000.0  # the load's wall-clock start
# (step, started, ended) in wall-clock seconds, as the journal has them
TIMES = [("cutover.freeze-writes.keystone", 1010.0, 1010.1),
         ("cutover.freeze-writes.nova", 1010.2, 1010.3),
         ("cutover.drain.nova", 1011.0, 1012.0),
         ("cutover.stop-old.nova", 1012.0, 1013.0),
         ("cutover.final-copy", 1013.0, 1040.0),
         ("cutover.db-sync", 1040.0, 1060.0),
         ("cutover.switch.keystone", 1070.0, 1070.5),
         ("cutover.switch.nova", 1070.5, 1071.0),
         ("cutover.verify-vip", 1071.0, 1075.0),
         ("cutover.thaw-writes", 1075.0, 1075.2)]


def rec(index: int, service: str, started: float, ok: bool = True, kind: str = "get",
        duration: float = 0.1) -> RequestRecord:
    return RequestRecord(index, kind, started, duration, 200 if ok else 503,
                         None if ok else "HTTP 503", service=service)


def test_reads_of_every_service_from_the_catalog(bench: ModuleType) -> None:
    catalog = [{"type": t, "endpoints": [
        {"interface": "internal", "url": f"http://10.0.0.1/{t}"},
        {"interface": "public", "url": f"http://127.0.6.10:1/{t}/"}]}
        for t in ("identity", "image", "placement", "compute", "network", "volumev3",
                  "orchestration")]
    endpoints = bench.public_endpoints(catalog)
    assert endpoints["compute"] == "http://127.0.6.10:1/compute"
    targets = bench.read_targets(endpoints, "tok", dashboard_url="http://127.0.6.10:80/")
    by_service = {t.service: t for t in targets}
    assert [t.service for t in targets] == list(bench.SERVICES)
    assert by_service["nova"].url == "http://127.0.6.10:1/compute/servers/detail?all_tenants=1"
    assert by_service["neutron"].url == "http://127.0.6.10:1/network/v2.0/networks"
    assert by_service["cinder"].url == \
        "http://127.0.6.10:1/volumev3/volumes/detail?all_tenants=1"
    assert by_service["heat"].url == "http://127.0.6.10:1/orchestration/stacks"
    # the dashboard: its login page, no token (it is no API)
    assert by_service["horizon"].url == "http://127.0.6.10:80/auth/login/"
    assert by_service["horizon"].headers == {}
    assert all(t.headers == {"X-Auth-Token": "tok"} for s, t in by_service.items()
               if s != "horizon")
    with pytest.raises(SystemExit, match="neutron"):
        bench.read_targets({k: v for k, v in endpoints.items() if k != "network"}, "tok",
                           dashboard_url="http://127.0.6.10:80/")
    with pytest.raises(SystemExit, match="horizon"):
        bench.read_targets(endpoints, "tok")


def test_write_window_per_service_from_its_freeze_to_the_thaw(bench: ModuleType) -> None:
    windows = bench.write_windows(TIMES, ("keystone", "nova", "glance"))
    assert windows == {"keystone": 65.2, "nova": 65.0, "glance": None}
    assert bench.write_windows(TIMES[:-1], ("keystone",)) == {"keystone": None}


def test_step_at_a_time_and_in_flight_during_the_switch(bench: ModuleType) -> None:
    assert bench.step_at(TIMES, 1020.0) == "cutover.final-copy"
    assert bench.step_at(TIMES, 1065.0) == "(after cutover.db-sync)"
    assert bench.step_at(TIMES, 1005.0) == "-"
    spans = bench.switch_spans(TIMES)
    assert spans == [(1070.0, 1070.5), (1070.5, 1071.0)]
    # started before the switch, answered during it: in flight then
    assert bench.in_flight_during(rec(0, "nova", 69.5, duration=0.6), WALL, spans)
    assert not bench.in_flight_during(rec(0, "nova", 69.0, duration=0.5), WALL, spans)


def test_measure_per_service_with_failures_by_step(bench: ModuleType) -> None:
    records = [rec(0, "keystone", 5.0), rec(1, "nova", 5.1),
               rec(2, "nova", 11.5, ok=False), rec(3, "nova", 20.0, ok=False),
               rec(4, "nova", 70.4, ok=False, duration=0.2), rec(5, "nova", 72.0),
               rec(6, "keystone", 20.0), rec(7, "keystone", 30.0, ok=False, kind="write"),
               rec(8, "keystone", 80.0, kind="write"), rec(9, "keystone", 40.0, kind="token")]
    result = LoadResult(url="-", rate=10, records=records, wall_start=WALL)
    data = bench.measure(result, TIMES, 70.0, 0, services=("keystone", "nova"),
                         chains={"keystone": 8.0, "nova": 20.0})
    rows = {(r["service"], r["kind"]): r for r in data["per_service"]}
    assert set(rows) == {("keystone", "get"), ("keystone", "write"), ("keystone", "token"),
                         ("nova", "get")}
    nova = rows[("nova", "get")]
    assert (nova["requests"], nova["failed"], nova["failed_during_switch"]) == (5, 3, 1)
    assert nova["longest_window_s"] == 60.5  # 11.5 -> 72.0, the first success after
    assert nova["failed_by_step"] == {"cutover.drain.nova": 1, "cutover.final-copy": 1,
                                      "cutover.switch.keystone": 1}
    assert data["failed_reads_by_service"] == {"keystone": 0, "nova": 3}
    assert data["goal_failed_reads_per_service_met"] is False
    assert data["write_window_seconds"] == {"keystone": 65.2, "nova": 65.0}
    assert data["final_sync_and_db_sync_seconds"] == 47.0
    assert [f["step"] for f in data["failures"]][:1] == ["cutover.drain.nova"]

    text = bench.report(data, argparse.Namespace(from_release="2025.1",
                                                 to_release="2026.1"))
    assert "NOT met: keystone 0, nova 3." in text
    assert "| nova reads (GET /servers/detail?all_tenants=1) | 5 | 3 | 1 | 60.5 |" in text
    assert data["slowest_db_sync_chain"] == "nova"
    assert data["goal_write_window_seconds"] == 30.0  # 1.5 x nova's 20 s chain
    assert "| nova | 65.0 | NO |" in text
    assert "chains (s): keystone 8.0, nova 20.0." in text
    assert "1 during cutover.drain.nova" in text


def test_measure_goal_met_without_failed_reads(bench: ModuleType) -> None:
    result = LoadResult(url="-", rate=10, wall_start=WALL,
                        records=[rec(0, "glance", 1.0), rec(1, "glance", 2.0),
                                 rec(2, "horizon", 3.0)])
    data = bench.measure(result, TIMES, 70.0, 0, services=("glance", "horizon"))
    assert data["goal_failed_reads_per_service_met"] is True
    text = bench.report(data, argparse.Namespace(from_release="2025.1", to_release="2026.1"))
    assert "**Goal: failed reads per service 0** — met." in text
    # the dashboard's row: its read is the login page, not an API's
    assert "| horizon reads (GET /auth/login/) | 1 | 0 |" in text
