"""Watch every process's command line while the e2e flow runs: no secret of the lab
may ever be in one (`ps` shows every argv to every user of the machine).

`ArgvScanner` is a background thread reading /proc/*/cmdline every 50 ms; the
`argv_scanner` fixture starts it once the lab is up (so the lab's own bring-up is
not scanned) and the flow's last check stops it and reads what it saw.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.e2e.conftest import RunningLab

SCAN_INTERVAL = 0.05
# Programs sbs runs as children during prepare/cutover/rollback: seeing one proves the
# scanner was looking while sbs worked, not only before or after.
SBS_CHILDREN = frozenset({"nova-manage", "keystone-manage", "glance-manage",
                          "placement-manage", "mariadb", "mariadb-dump", "mysql",
                          "mysqldump", "mydumper", "myloader", "ssh", "ansible-playbook"})
# The lab's RabbitMQ account (render.TRANSPORT_URL): a common word alone, so it is
# looked for as the credential part of a URL.
RABBIT_CREDENTIAL = ":guest@"


def lab_secrets(lab: RunningLab) -> dict[str, str]:
    """Every password the lab generated (its secrets dir and each MariaDB server's
    root password: all `*.password` files under its state dir), by file name, and
    the RabbitMQ credential of its transport URLs."""
    found = {str(path.relative_to(lab.state_dir)): path.read_text().strip()
             for path in sorted(lab.state_dir.rglob("*.password")) if path.is_file()}
    found = {name: value for name, value in found.items() if value}
    found["rabbitmq guest:guest"] = RABBIT_CREDENTIAL
    return found


@dataclass
class Leak:
    secret: str       # which secret (its file name), never its value
    pid: int
    argv: str         # the command line with the secret replaced by <secret name>


@dataclass
class ArgvScanner:
    secrets: dict[str, str]
    interval: float = SCAN_INTERVAL
    scans: int = 0
    leaks: list[Leak] = field(default_factory=list)
    children_seen: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="argv-scanner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _loop(self) -> None:
        needles = {name: value.encode() for name, value in self.secrets.items()}
        own = os.getpid()
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.scan_once(needles, own)
            except Exception as exc:  # reported by the final test, never silently
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def scan_once(self, needles: dict[str, bytes], own: int) -> None:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == own:
                continue
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                    raw = handle.read()
            except OSError:  # gone meanwhile, or a kernel thread
                continue
            if not raw:
                continue
            words = raw.rstrip(b"\0").split(b"\0")
            for word in words[:2]:  # the program, or the script an interpreter runs
                name = os.path.basename(word.decode(errors="replace"))
                if name in SBS_CHILDREN:
                    self.children_seen.add(name)
            for secret, needle in needles.items():
                if needle in raw:
                    shown = raw.replace(needle, f"<{secret}>".encode())
                    self.leaks.append(Leak(secret, int(entry.name), shown.replace(
                        b"\0", b" ").decode(errors="replace")[:2000]))
        self.scans += 1


@pytest.fixture(scope="module")
def argv_scanner(lab: RunningLab) -> Iterator[ArgvScanner]:
    """Scans every process's argv every 50 ms from first use to the module's end."""
    secrets = lab_secrets(lab)
    assert len(secrets) > 3, f"the lab's secrets were not found under {lab.state_dir}"
    scanner = ArgvScanner(secrets)
    scanner.start()
    try:
        yield scanner
    finally:
        scanner.stop()


def report(scanner: ArgvScanner) -> str:
    seen: dict[tuple[str, str], int] = {}
    for leak in scanner.leaks:
        seen.setdefault((leak.secret, leak.argv), leak.pid)
    return "\n".join(f"{secret} in pid {pid}: {argv}" for (secret, argv), pid in seen.items())


__all__ = ["ArgvScanner", "argv_scanner", "lab_secrets", "report"]
