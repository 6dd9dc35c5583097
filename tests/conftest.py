"""What every test tier shares: free ports, loopback addresses no two tiers share, real
MariaDB servers on them, the example inventories parsed once, and the sbs command line
built once for tests that run it in-process many times.

Addresses: every fixture that binds a server to a loopback address of its own takes it
from `loopback_address()`, which hands out 127.0.4.1 ... 127.0.5.254 once each per session.
The e2e lab's fixed addresses (127.0.0.10-12, 127.0.2.x, and 127.0.3.x, the lab moved by
`--address-base`) are outside that range, so no tier's server can meet another's or the
lab's on one address.
"""

from __future__ import annotations

import copy
import functools
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import typer.main
import yaml

if TYPE_CHECKING:  # pymysql and the lab adapter only where a test starts a server
    from sidebyside.db.mariadb_server import MariaDBServer

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# Two /24s of loopback: more than any session starts (each tier takes a handful).
_LOOPBACK_POOL = (f"127.0.{block}.{host}" for block in (4, 5) for host in range(1, 255))


def loopback_address() -> str:
    """A loopback address no other caller in this session got.

    Raises RuntimeError when the pool is used up (a fixture leaking addresses per test).
    """
    try:
        return next(_LOOPBACK_POOL)
    except StopIteration:
        raise RuntimeError("the tests' loopback pool (127.0.4.x, 127.0.5.x) is used up") \
            from None


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at `address` right now (bound, then released)."""
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def start_mariadb(basedir: Path, *, name: str, host: str | None = None,
                  options: dict[str, str | None] | None = None) -> MariaDBServer:
    """A real mariadbd with its datadir under `basedir`, on `host` (default: an address
    of its own from `loopback_address()`) and a free port, started and answering.

    Raises StepFailed (the error log's tail) when it does not come up.
    """
    from sidebyside.db.mariadb_server import MariaDBServer

    server = MariaDBServer(basedir, host=host or loopback_address(), name=name,
                           options=options)
    server.start()
    return server


@contextmanager
def running_mariadb(basedir: Path, *, name: str, host: str | None = None,
                    options: dict[str, str | None] | None = None) -> Iterator[MariaDBServer]:
    """`start_mariadb` for the length of a `with` block; stopped by its PID after."""
    server = start_mariadb(basedir, name=name, host=host, options=options)
    try:
        yield server
    finally:
        server.stop()


MariaDBFactory = Callable[..., "MariaDBServer"]


@pytest.fixture(scope="session")
def mariadb_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDBFactory]:
    """`make(name, options=None)`: a session-long MariaDB on an address of its own, its
    datadir in the session's tmp; every one started is stopped by PID at the end."""
    root = tmp_path_factory.mktemp("mariadb")
    started: list[MariaDBServer] = []

    def make(name: str, *, options: dict[str, str | None] | None = None) -> MariaDBServer:
        server = start_mariadb(root / name, name=name, options=options)
        started.append(server)
        return server

    try:
        yield make
    finally:
        for server in reversed(started):
            server.stop()


@functools.cache
def _parsed_example(name: str) -> Any:
    return yaml.load((EXAMPLES / name).read_text(),  # noqa: S506 - a safe loader
                     Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def example_inventory(name: str = "minimal.yaml") -> Any:
    """examples/<name> as data, a fresh copy each call (tests mutate theirs); the file is
    parsed once per session (libyaml when present)."""
    return copy.deepcopy(_parsed_example(name))


_command_of = functools.cache(typer.main.get_command)


@pytest.fixture()
def typer_command_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """typer builds the click command of every sbs command again on each run of the app
    (about 0.1 s); the app does not change between runs, so a test running the real
    entry point in-process many times builds it once."""
    monkeypatch.setattr(typer.main, "get_command", _command_of)
