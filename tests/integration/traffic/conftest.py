"""Real HAProxy (started per test, own cfg, admin socket and state file in tmp), tiny
Python HTTP servers as its backend servers, each answering with its own name."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from sidebyside.remote.local import LocalHost
from sidebyside.traffic.fleet import HaproxyFleet
from sidebyside.traffic.haproxy import HaproxyNode
from sidebyside.traffic.templates import (
    Backend,
    Frontend,
    HaproxyGlobals,
    Server,
    Timeouts,
    render_haproxy_cfg,
)
from tests.conftest import free_port, loopback_address

# The traffic tier's own addresses, from the session's pool (no other tier's server,
# and never the lab's).
FRONT_ADDRESS = loopback_address()
SERVER_ADDRESS = {"old": loopback_address(), "new": loopback_address()}
BACKEND = "svc_api"


class NamedHandler(BaseHTTPRequestHandler):
    """GET / -> 200 and the server's name; GET /slow?seconds=N answers after N s."""

    server: NamedServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        parts = urlsplit(self.path)
        if parts.path == "/slow":
            seconds = float(parse_qs(parts.query).get("seconds", ["1"])[0])
            time.sleep(seconds)
        body = self.server.label.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _write(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = f"{self.server.label} {self.command}".encode()
        self.send_response(201)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT = do_PATCH = do_DELETE = _write  # noqa: N815 (http.server's naming)

    def log_message(self, format: str, *args: object) -> None:
        pass


class NamedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: str, label: str) -> None:
        super().__init__((address, 0), NamedHandler)
        self.label = label
        self.port = int(self.server_address[1])

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # HAProxy's health checks close without reading the answer: not news


@pytest.fixture
def backend_servers() -> Iterator[dict[str, NamedServer]]:
    servers = {side: NamedServer(SERVER_ADDRESS[side], side) for side in ("old", "new")}
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1},
                                daemon=True) for s in servers.values()]
    for thread in threads:
        thread.start()
    yield servers
    for server in servers.values():
        server.shutdown()
        server.server_close()


@dataclass
class HaproxyUnderTest:
    directory: Path
    cfg: Path
    socket: str
    state_file: str
    frontend_url: str
    processes: list[subprocess.Popen[bytes]]
    write_freeze_map: str = ""

    @property
    def pid(self) -> int:
        return self.processes[-1].pid

    def node(self, name: str = "lb1") -> HaproxyNode:
        return HaproxyNode.on_host(LocalHost(name), self.socket, timeout=5)

    def fleet(self, name: str = "lb1") -> HaproxyFleet:
        return HaproxyFleet([self.node(name)], state_files={name: self.state_file})

    def reload(self) -> None:
        """`haproxy -sf <old pid>`: a new process takes over, loading the state file."""
        old = self.processes[-1]
        self.processes.append(start_haproxy(self.cfg, self.socket, finish=old.pid))
        old.wait(timeout=10)


def start_haproxy(cfg: Path, admin_socket: str, *,
                  finish: int | None = None) -> subprocess.Popen[bytes]:
    argv = ["haproxy", "-db", "-f", str(cfg)]
    if finish is not None:
        argv += ["-sf", str(finish)]
    else:
        Path(admin_socket).unlink(missing_ok=True)
    log = open(cfg.with_suffix(".log"), "ab")  # noqa: SIM115 (the child owns it)
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    log.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"haproxy exited: {cfg.with_suffix('.log').read_text()}")
        try:
            answer = HaproxyNode("probe", _socket_channel(admin_socket)).command("show info")
            if f"Pid: {process.pid}" in answer:
                return process
        except Exception:  # noqa: BLE001 (not up yet)
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("haproxy did not open its admin socket in 10 s")


def _socket_channel(path: str):  # type: ignore[no-untyped-def]
    from sidebyside.traffic.haproxy import UnixSocketChannel

    return UnixSocketChannel(path)


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


HaproxyFactory = Callable[[str], HaproxyUnderTest]


@pytest.fixture
def haproxy_factory(tmp_path: Path,
                    backend_servers: dict[str, NamedServer]) -> Iterator[HaproxyFactory]:
    """Starts HAProxy processes named `name`, each with its own directory, admin socket,
    state file and frontend port, in front of the same two backend servers."""
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    started: list[HaproxyUnderTest] = []

    def start(name: str) -> HaproxyUnderTest:
        directory = tmp_path / f"haproxy-{name}"
        directory.mkdir()
        admin_socket = str(directory / "admin.sock")
        state_file = str(directory / "server-state")
        port = free_port(FRONT_ADDRESS)
        cfg = directory / "haproxy.cfg"
        freeze_map = directory / "write-freeze.map"
        freeze_map.touch()
        cfg.write_text(render_haproxy_cfg(
            [Frontend("svc_vip", f"{FRONT_ADDRESS}:{port}", BACKEND)],
            [Backend(BACKEND, [Server(side, SERVER_ADDRESS[side],
                                      backend_servers[side].port, side=side)
                               for side in ("old", "new")],
                     check_path="/", check_interval="500ms")],
            HaproxyGlobals(admin_socket=admin_socket, state_file=state_file,
                           timeouts=Timeouts(connect="2s", client="30s", server="30s",
                                             check="2s"),
                           write_freeze_map=str(freeze_map))))
        under_test = HaproxyUnderTest(directory, cfg, admin_socket, state_file,
                                      f"http://{FRONT_ADDRESS}:{port}", [],
                                      write_freeze_map=str(freeze_map))
        started.append(under_test)
        under_test.processes.append(start_haproxy(cfg, admin_socket))
        return under_test

    try:
        yield start
    finally:
        for under_test in started:
            stop_processes(under_test.processes)


@pytest.fixture
def haproxy(haproxy_factory: HaproxyFactory) -> HaproxyUnderTest:
    return haproxy_factory("lb1")
