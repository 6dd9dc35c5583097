"""Cutovers that crash: SIGKILL at every step, then resume or roll back; and a fault on
the new side that only verification through the VIP can see (automatic rollback).

Every command is the real CLI against the lab's generated inventory, run in its own
process group and killed with SIGKILL while the journal (`journal.db`) says a step is
under way. A cutover carries everything it needs (final copy, config, db_sync, start),
so these tests need no `sbs prepare`: one state dir holds all of them, as an operator's
would, and the module leaves the lab as `sbs lab reset` makes it.

Where a kill lands is chosen from the journal, never by a timer: the test watches for
step k to be `running` and kills at once (mid-effect for the slow steps), or, every
other step, lets a pause point hold the process just before it journals k `done` (the
effect complete, the journal still saying `running`: the crash a resume must verify).
The pause point is the only thing added to the real program: `Journal.transition`
stops the process (SIGSTOP) instead of recording the held step done.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from sidebyside.inventory import load_inventory
from sidebyside.lab import processes
from sidebyside.plan.model import Changes
from tests.e2e.conftest import RunningLab
from tests.e2e.test_lab import vip
from tests.e2e.test_upgrade_flow import old_checksums, project_names, serving

pytestmark = pytest.mark.e2e

STEP_TIMEOUT = 900  # seconds a single step may take to show up in the journal
HOLD_ENV = "SBS_E2E_HOLD_BEFORE_DONE"
CRASH_PROJECT = "e2e-crash-"  # written on the old side between two cutovers
# `sbs` with one pause point: SIGSTOP itself instead of journaling the held step done.
LAUNCHER = f"""
import os, signal, sys
from sidebyside.engine import journal
held = os.environ.get({HOLD_ENV!r})
transition = journal.Journal.transition
def holding(self, run_id, step_id, new, **kwargs):
    if held and step_id == held and new == journal.StepStatus.DONE:
        os.kill(os.getpid(), signal.SIGSTOP)
    return transition(self, run_id, step_id, new, **kwargs)
journal.Journal.transition = holding
sys.argv[0] = "sbs"
from sidebyside.cli.main import run
run()
"""


@dataclass
class Crashes:
    lab: RunningLab
    state_dir: Path
    inventory: Path

    def argv(self, *args: str) -> list[str]:
        return [*args, "-i", str(self.inventory), "--state-dir", str(self.state_dir)]

    def sbs(self, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sidebyside", *self.argv(*args)], capture_output=True,
            text=True, timeout=timeout, stdin=subprocess.DEVNULL,
            env={**os.environ, "COLUMNS": "200"})

    def start(self, *args: str, hold: str | None = None) -> subprocess.Popen[str]:
        """`sbs <args>` in its own process group (it leads it), output to a log."""
        env = {**os.environ, "COLUMNS": "200"}
        env.pop(HOLD_ENV, None)
        if hold:
            env[HOLD_ENV] = hold
        with (self.state_dir / "e2e-runs.log").open("a") as log:
            log.write(f"\n=== sbs {' '.join(args)} (hold {hold})\n")
            log.flush()
            return subprocess.Popen([sys.executable, "-c", LAUNCHER, *self.argv(*args)],
                                    stdout=log, stderr=subprocess.STDOUT, text=True,
                                    env=env, stdin=subprocess.DEVNULL,
                                    start_new_session=True)

    def log_tail(self, chars: int = 4000) -> str:
        path = self.state_dir / "e2e-runs.log"
        return path.read_text()[-chars:] if path.exists() else "(no output)"

    def plan(self, command: str) -> list[str]:
        result = self.sbs("plan", command, "--json")
        assert result.returncode == 0, result.stderr[-3000:]
        return [step["id"] for step in json.loads(result.stdout)["steps"]]

    def journal(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.state_dir / "journal.db", timeout=30)
        conn.row_factory = sqlite3.Row
        return conn

    def latest_run(self, command: str) -> sqlite3.Row | None:
        if not (self.state_dir / "journal.db").exists():
            return None
        try:
            with self.journal() as conn:
                return conn.execute("SELECT * FROM runs WHERE command=? ORDER BY id DESC "
                                    "LIMIT 1", (command,)).fetchone()
        except sqlite3.OperationalError as exc:  # the journal being created
            if "no such table" in str(exc):
                return None
            raise

    def step_status(self, run_id: int, step_id: str) -> str:
        with self.journal() as conn:
            row = conn.execute("SELECT status FROM steps WHERE run_id=? AND step_id=?",
                               (run_id, step_id)).fetchone()
        return str(row["status"]) if row else "absent"

    def steps(self, run_id: int) -> dict[str, sqlite3.Row]:
        with self.journal() as conn:
            return {row["step_id"]: row for row in conn.execute(
                "SELECT * FROM steps WHERE run_id=? ORDER BY seq", (run_id,))}

    def kill_in_step(self, command: str, step_id: str, *, after_effect: bool,
                     runs_before: int) -> int:
        """Run `sbs <command> --yes` and SIGKILL its process group while the journal
        says `step_id` is running: at once, or (after_effect) once it is held just
        before being journaled done. Returns the run id."""
        proc = self.start(command, "--yes", hold=step_id)
        try:
            run_id = self._wait(proc, lambda: self._running(command, step_id, runs_before),
                                f"{step_id} running")
            if after_effect:
                self._wait(proc, lambda: _stopped(proc.pid), f"{step_id} held before done")
            assert self.step_status(run_id, step_id) == "running"
        finally:
            kill_group(proc)
        return run_id

    def _running(self, command: str, step_id: str, runs_before: int) -> int | None:
        run = self.latest_run(command)
        if run is None or run["id"] <= runs_before:
            return None
        return int(run["id"]) if self.step_status(run["id"], step_id) == "running" else None

    def _wait(self, proc: subprocess.Popen[str], found: Callable[[], int | bool | None],
              what: str) -> int:
        """Poll the journal (or /proc) until `found` holds; the process must not exit."""
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            value = found()
            if value:
                return int(value)
            if proc.poll() is not None:
                raise AssertionError(f"sbs exited {proc.returncode} before {what}:\n"
                                     f"{self.log_tail()}")
            time.sleep(0.02)
        raise AssertionError(f"no {what} within {STEP_TIMEOUT}s:\n{self.log_tail()}")


def _stopped(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "T"
    except OSError:
        return False


def group_members(pgid: int) -> list[int]:
    members = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(proc.name))
    return members


def kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the process group `proc` leads (sbs and its children: db_sync, copies,
    service commands) and nothing else; wait until none of it is left."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)
    deadline = time.monotonic() + 30
    while group_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group_members(proc.pid) == []


def lab_pids(lab: RunningLab) -> dict[str, int]:
    """The lab's infrastructure processes, which no kill of sbs may take down."""
    rows = json.loads(lab.cli("status", "--json").stdout)["components"]
    return {row["component"]: row["pid"] for row in rows
            if row["component"] in ("old-mariadb", "new-mariadb", "haproxy")}


def backends(lab: RunningLab, inventory: Path | None = None) -> list[str]:
    """The HAProxy backends of `inventory` (default: the whole lab's)."""
    model = load_inventory(inventory or lab.state_dir / "sbs.yaml").ha.haproxy
    assert model is not None
    return [b.backend for b in model.backends.values()]


def image_names(lab: RunningLab) -> set[str]:
    return {image.name for image in vip(lab).image.images()}


def assert_old_serves(lab: RunningLab, projects: set[str], images: set[str],
                      checksums: dict[str, int]) -> None:
    for backend in backends(lab):
        assert serving(lab, backend) == {"old-ctl1"}, backend
    assert vip(lab).authorize()
    assert project_names(lab) == projects
    assert image_names(lab) == images
    assert old_checksums(lab) == checksums


def without_nova(lab: RunningLab, path: Path) -> Path:
    """The lab's inventory for a cloud of keystone and glance only. The lab's nova is
    database-only (no API, so no traffic to move) and the costliest part of a cutover
    (hundreds of tables, a dozen nova-manage runs): the scenarios after the first one
    kill and roll back without it, in CI's time budget."""
    data = yaml.safe_load((lab.state_dir / "sbs.yaml").read_text())
    data["services"] = [s for s in data["services"] if s != "nova"]
    for side in ("old", "new"):
        data[side]["services"].pop("nova", None)
    data["ha"]["haproxy"]["backends"].pop("nova", None)
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def lab_crashes(lab: RunningLab) -> Iterator[RunningLab]:
    """The module's cutovers need no `sbs prepare` (a cutover copies, translates and
    db_syncs what it serves); afterwards the new side is emptied again."""
    try:
        yield lab
    finally:
        lab.cli("reset")
        conn = vip(lab)
        for project in conn.identity.projects():
            if project.name.startswith(CRASH_PROJECT):
                conn.identity.delete_project(project.id)


@pytest.fixture(scope="module")
def small_crashes(lab_crashes: RunningLab) -> Crashes:
    """Keystone and glance only, in one state dir shared by the scenarios using it."""
    state_dir = lab_crashes.state_dir / "crash-state-small"
    state_dir.mkdir(exist_ok=True)
    return Crashes(lab_crashes, state_dir,
                   without_nova(lab_crashes, lab_crashes.state_dir / "sbs-no-nova.yaml"))


def test_sigkill_in_every_cutover_step_then_resume(small_crashes: Crashes) -> None:
    # keystone and glance: every step kind of a cutover but nova's (test_upgrade_flow
    # runs nova's cell mappings and db_syncs), within CI's time budget
    crashes = small_crashes
    lab = crashes.lab
    infrastructure = lab_pids(lab)
    checksums, projects, images = old_checksums(lab), project_names(lab), image_names(lab)
    steps = crashes.plan("cutover")
    assert len(steps) >= 10 and "cutover.verify-vip" in steps

    earlier = crashes.latest_run("cutover")
    runs_before = int(earlier["id"]) if earlier else 0
    run_ids = set()
    for index, step_id in enumerate(steps):
        run_ids.add(crashes.kill_in_step("cutover", step_id, after_effect=index % 2 == 1,
                                         runs_before=runs_before))
        # only the killed group died: the lab's databases and HAProxy live on
        assert [name for name, pid in infrastructure.items()
                if not processes.pid_alive(pid)] == [], step_id
    assert len(run_ids) == 1  # every re-run resumed the one cutover

    (run_id,) = run_ids
    final = crashes.sbs("cutover", "--yes", "--json")
    assert final.returncode == 0, final.stdout[-2000:] + final.stderr[-3000:]
    report = json.loads(final.stdout)
    assert report["run"] == run_id and report["resumed"]
    journaled = crashes.steps(run_id)
    assert [s for s, row in journaled.items() if row["status"] != "done"] == []
    with crashes.journal() as conn:
        resumed = conn.execute("SELECT count(*) FROM events WHERE run_id=? AND "
                               "kind='run-resumed'", (run_id,)).fetchone()[0]
    assert resumed == len(steps)

    for backend in backends(lab, crashes.inventory):
        assert serving(lab, backend) == {"new-ctl1"}, backend
    verified = crashes.sbs("verify", "--side", "vip", "--json")
    assert verified.returncode == 0, verified.stdout[-3000:]
    assert project_names(lab) == projects
    assert image_names(lab) == images
    assert old_checksums(lab) == checksums

    rolled = crashes.sbs("rollback", "--yes", "--accept-data-loss")
    assert rolled.returncode == 0, rolled.stderr[-3000:]
    assert_old_serves(lab, projects, images, checksums)


def _plan_steps(crashes: Crashes) -> list[dict[str, object]]:
    result = crashes.sbs("plan", "cutover", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    return list(json.loads(result.stdout)["steps"])


def _first(steps: list[dict[str, object]], **match: object) -> str:
    return next(str(s["id"]) for s in steps if all(s[k] == v for k, v in match.items()))


def _kill_then_rollback(crashes: Crashes, step_id: str, *, after_effect: bool) -> None:
    lab = crashes.lab
    # The cloud lives on between two cutovers: the old side takes a write.
    vip(lab).identity.create_project(name=f"{CRASH_PROJECT}{uuid.uuid4().hex[:8]}",
                                     domain_id="default")
    checksums, projects, images = old_checksums(lab), project_names(lab), image_names(lab)
    earlier = crashes.latest_run("cutover")
    run_id = crashes.kill_in_step("cutover", step_id, after_effect=after_effect,
                                  runs_before=int(earlier["id"]) if earlier else 0)

    rolled = crashes.sbs("rollback", "--yes", "--json")
    assert rolled.returncode == 0, rolled.stdout[-2000:] + rolled.stderr[-3000:]
    assert_old_serves(lab, projects, images, checksums)
    cutover = crashes.latest_run("cutover")
    assert cutover is not None and cutover["id"] == run_id
    assert cutover["status"] == "rolled-back"


@pytest.mark.slow_e2e  # also alone: `make test-slow`
def test_sigkill_after_the_first_switch_then_rollback(small_crashes: Crashes) -> None:
    crashes = small_crashes
    steps = _plan_steps(crashes)
    # held after the switch: one backend on the new side, the others on the old
    _kill_then_rollback(crashes, _first(steps, action="switch_traffic"), after_effect=True)


@pytest.mark.slow_e2e  # also alone: `make test-slow`
def test_sigkill_while_stopping_the_old_side_then_rollback(small_crashes: Crashes) -> None:
    crashes = small_crashes
    steps = _plan_steps(crashes)
    before_switch = steps[:[s["action"] for s in steps].index("switch_traffic")]
    # The old side stopped (or, when a read-only window keeps it serving reads until
    # the switch, its traffic drained or frozen): held after the effect.
    stop = [s for s in before_switch if s["changes"] == Changes.OLD_SERVICES.value] or \
        [s for s in before_switch if s["changes"] == Changes.TRAFFIC.value]
    _kill_then_rollback(crashes, str(stop[0]["id"]), after_effect=True)


@pytest.mark.slow_e2e  # also alone: `make test-slow`
def test_sigkill_during_the_final_copy_then_rollback(small_crashes: Crashes) -> None:
    crashes = small_crashes
    steps = _plan_steps(crashes)
    # killed as soon as it starts: the new databases half replaced
    _kill_then_rollback(crashes, _first(steps, action="copy_databases"), after_effect=False)


def test_a_broken_new_keystone_fails_verification_and_rolls_back(small_crashes: Crashes) -> None:
    crashes = small_crashes
    """A stray file in the new controller's fernet key repository (say a rotation job
    of the new deployment half-wrote key 9): the config step copies the old keys over
    it and leaves it alone; keystone starts and answers /v3 (the direct check before a
    switch) but cannot issue a token with a primary key that is no Fernet key."""
    lab = crashes.lab
    inventory = load_inventory(crashes.inventory)
    root = Path(inventory.hosts[inventory.new.controllers[0]].root or "/")
    stray = root / "etc" / "keystone" / "fernet-keys" / "9"
    checksums, projects, images = old_checksums(lab), project_names(lab), image_names(lab)
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_text("not-a-fernet-key\n")
    stray.chmod(0o600)
    try:
        result = crashes.sbs("cutover", "--yes")
        assert result.returncode == 5, result.stdout[-2000:] + result.stderr[-3000:]
        assert "cutover.verify-vip" in result.stderr and "no token" in result.stderr
        assert stray.exists()  # carried through the cutover's own config step
        assert_old_serves(lab, projects, images, checksums)
        status = crashes.sbs("status", "--json")
        assert status.returncode == 0, status.stderr[-2000:]
        cutover = crashes.latest_run("cutover")
        assert cutover is not None and cutover["status"] == "rolled-back"
        assert cutover["id"] in {run["id"] for run in json.loads(status.stdout)["runs"]
                                 if run["status"] == "rolled-back"}
        journaled = crashes.steps(int(cutover["id"]))
        assert journaled["cutover.verify-vip"]["status"] == "failed"
        switched = [s for s, row in journaled.items() if s.startswith("cutover.switch.")]
        assert switched and all(journaled[s]["status"] == "done" for s in switched)
    finally:
        stray.unlink(missing_ok=True)
