"""Run an operator's playbook with ansible-runner (adapter: the only module importing it).

Each run gets `<private_dir>/artifacts/<ident>/` (ansible-runner's layout: stdout,
job_events/). The extra vars travel in a 0600 file that is deleted when the run ends,
never on the command line; each event is redacted before ansible-runner writes it,
the artifacts are redacted when the run ends (then marked `REDACTED_MARK`) and the
environment ansible-runner records there is dropped (it would hold every variable of
sbs's own environment, password variables included). A run that never reached its
end (sbs killed) leaves artifacts without the mark and perhaps its extravars file:
the next run removes both before it starts, as nothing says what secrets they hold.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sidebyside.deploy.model import EventDigest
from sidebyside.errors import InputError
from sidebyside.redact import redact, redact_obj

KEEP_ARTIFACTS = 10
REDACTED_MARK = ".sbs-redacted"
# How often the timeout is checked, and how long a stopped run may take to end.
CHECK_SECONDS = 0.5
STOP_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class PlaybookRequest:
    playbook: str          # absolute path
    inventory: str         # absolute path, or an ansible host list such as "h1,h2,"
    limit: str
    extra_vars: Mapping[str, Any]
    timeout: float
    ident: str


@dataclass(frozen=True)
class PlaybookOutcome:
    status: str            # successful, failed, timeout, canceled
    rc: int | None
    digest: EventDigest
    artifact_dir: Path
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0 and not self.digest.failures


def file_digest(path: str) -> str:
    """sha256 of a file, or of every file under a directory (an inventory directory),
    or of the text itself when it is not a path (an ansible host list)."""
    digest = hashlib.sha256()
    target = Path(path)
    if target.is_file():
        digest.update(target.read_bytes())
    elif target.is_dir():
        for child in sorted(p for p in target.rglob("*") if p.is_file()):
            digest.update(str(child.relative_to(target)).encode() + b"\0")
            digest.update(child.read_bytes())
    else:
        digest.update(b"text:" + path.encode())
    return digest.hexdigest()


def check_inputs(request: PlaybookRequest) -> None:
    """Raises InputError naming the playbook or inventory that cannot be used."""
    if not Path(request.playbook).is_file():
        raise InputError(f"deploy.ansible.playbook: {request.playbook} is not a file")
    if "," not in request.inventory and not Path(request.inventory).exists():
        raise InputError(f"deploy.ansible.inventory: {request.inventory} does not exist")


def search_path() -> str:
    """PATH for ansible: this interpreter's bin dir first (sbs may run from a venv that
    is not on PATH, as `make test` runs it)."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def _environment(private_dir: Path) -> dict[str, str]:
    return {
        "PATH": search_path(),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCAL_TEMP": str(private_dir / "tmp"),
    }


def run_playbook(request: PlaybookRequest, private_dir: Path,
                 on_log: Callable[[str], None]) -> PlaybookOutcome:
    """Run the playbook; stream each event's log lines to `on_log` as they arrive
    (from ansible-runner's thread). Past `request.timeout` it is stopped (status
    "timeout"); a KeyboardInterrupt stops it too and is re-raised once ansible-playbook
    and everything it started are gone.

    Returns the outcome whatever ansible's result (the caller decides what fails).
    Raises InputError when the playbook or inventory is missing or ansible-runner is
    not installed.
    """
    check_inputs(request)
    try:
        import ansible_runner
    except ImportError:
        raise InputError("deploy.ansible needs ansible-runner and ansible-core "
                         "(pip install ansible-runner ansible-core)") from None
    private_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(private_dir, 0o700)
    for line in remove_interrupted_runs(private_dir):
        on_log(line)
    (private_dir / "tmp").mkdir(exist_ok=True, mode=0o700)
    env_dir = private_dir / "env"
    env_dir.mkdir(exist_ok=True, mode=0o700)
    os.chmod(env_dir, 0o700)
    extravars_file = env_dir / "extravars"
    # O_EXCL|O_NOFOLLOW: a fresh file, 0600 from its first byte, never through a link.
    fd = os.open(extravars_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(dict(request.extra_vars), handle, default=str)

    digest = EventDigest()

    def event_handler(event: dict[str, Any]) -> bool:
        for line in digest.feed(event):
            on_log(line)
        # ansible-runner writes the event file from this very dict after we return.
        redacted = redact_obj(event)
        if isinstance(redacted, dict):
            event.update(redacted)
        return True

    started = time.monotonic()
    stop_requested = threading.Event()
    marker = f"@{extravars_file}"  # on ansible-playbook's command line, unique to this run
    runner = None
    timed_out = False
    try:
        thread, runner = ansible_runner.run_async(
            private_data_dir=str(private_dir),
            project_dir=str(Path(request.playbook).parent),  # its ansible.cfg, its roles
            playbook=request.playbook,
            inventory=request.inventory,
            limit=request.limit,
            ident=request.ident,
            envvars=_environment(private_dir),
            event_handler=event_handler,
            cancel_callback=stop_requested.is_set,
            settings={"pexpect_timeout": CHECK_SECONDS},
            quiet=True,
            suppress_env_files=True,
            rotate_artifacts=KEEP_ARTIFACTS,
        )
        try:
            while thread.is_alive():
                thread.join(CHECK_SECONDS)
                if thread.is_alive() and time.monotonic() - started > request.timeout:
                    timed_out = True
                    _stop(marker, stop_requested, thread)
        except BaseException:
            # Ctrl-C (or any error here): ansible-playbook runs in its own pty session,
            # so the terminal's signal never reached it; stop it before going on.
            _stop(marker, stop_requested, thread)
            raise
    finally:
        extravars_file.unlink(missing_ok=True)
        shutil.rmtree(private_dir / "tmp", ignore_errors=True)
        if runner is not None:
            _redact_artifacts(Path(runner.config.artifact_dir))
    return PlaybookOutcome(status="timeout" if timed_out else str(runner.status),
                           rc=runner.rc, digest=digest,
                           artifact_dir=Path(runner.config.artifact_dir),
                           seconds=time.monotonic() - started)


def _stop(marker: str, stop_requested: threading.Event, thread: threading.Thread) -> None:
    """Kill ansible-playbook and everything under it, then let ansible-runner finish.

    ansible-runner's own cancel/timeout kills only ansible-playbook's process group,
    but ansible's task workers call setsid: the modules they run (and what those
    started) would live on. So every descendant is killed by PID, parents first.
    """
    for attempt in range(4):  # later passes catch what was being forked meanwhile
        for pid in _process_tree(marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if attempt:
            time.sleep(0.2)
    stop_requested.set()
    thread.join(STOP_WAIT_SECONDS)


def _process_tree(marker: str) -> list[int]:
    """Our child processes whose command line holds `marker`, then all their
    descendants (parents before children), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    roots = []
    for pid in children.get(os.getpid(), []):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                roots.append(pid)
        except OSError:
            continue
    tree: list[int] = []
    queue = list(roots)
    while queue:
        pid = queue.pop(0)
        tree.append(pid)
        queue.extend(children.get(pid, []))
    return tree


def remove_interrupted_runs(private_dir: Path) -> list[str]:
    """Remove what a run that never reached its end left in `private_dir`: its
    extravars file and every artifact directory without `REDACTED_MARK`.

    Returns one log line per removed run. Raises nothing for files already gone.
    """
    removed: list[str] = []
    (private_dir / "env" / "extravars").unlink(missing_ok=True)
    artifacts = private_dir / "artifacts"
    if not artifacts.is_dir():
        return removed
    for run_dir in sorted(artifacts.iterdir()):
        if run_dir.is_dir() and not run_dir.is_symlink() and \
                not (run_dir / REDACTED_MARK).exists():
            shutil.rmtree(run_dir, ignore_errors=True)
            removed.append(f"removed the artifacts of interrupted ansible run {run_dir.name} "
                           "(never redacted)")
    return removed


def _redact_artifacts(artifact_dir: Path) -> None:
    """Redact what ansible-runner wrote for one run, then mark it done."""
    for name in ("stdout", "stderr"):
        path = artifact_dir / name
        if path.is_file():
            path.write_text(redact(path.read_text(errors="replace")))
    events = artifact_dir / "job_events"
    if events.is_dir():
        for path in events.glob("*.json"):
            try:
                event = json.loads(path.read_text(errors="replace"))
            except ValueError:  # a file cut short: its text is redacted as it is
                path.write_text(redact(path.read_text(errors="replace")))
                continue
            path.write_text(json.dumps(redact_obj(event)))
    command = artifact_dir / "command"
    if command.is_file():
        try:
            recorded = json.loads(command.read_text())
        except ValueError:
            recorded = {}
        recorded.pop("env", None)
        command.write_text(json.dumps(redact_obj(recorded)))
    if artifact_dir.is_dir():
        (artifact_dir / REDACTED_MARK).touch(mode=0o600)
