"""Real MariaDB servers for the database-copy tests, each on its own loopback address
(tests/conftest.py's `loopback_address`) and free port, with its own datadir. Every
server started here is stopped by PID."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sidebyside.db import DbEndpoint
from sidebyside.db.mariadb_server import MariaDBServer
from tests.conftest import MariaDBFactory, running_mariadb
from tests.integration.db import tricky


def endpoint_of(server: MariaDBServer) -> DbEndpoint:
    return DbEndpoint(server.host, server.port, "root", server.root_password)


@pytest.fixture(scope="session")
def db_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("db")


@pytest.fixture(scope="session")
def server_factory(mariadb_factory: MariaDBFactory) -> MariaDBFactory:
    """`make(name)`: a session-long server of its own (tests/conftest.py's factory)."""
    return mariadb_factory


@pytest.fixture(scope="session")
def source_server(server_factory: MariaDBFactory) -> MariaDBServer:
    """The source with the tricky databases and a bulk table (never written by the tests
    after this fixture, so its checksums must stay the same)."""
    server = server_factory("source")
    connection = server.connect()
    try:
        tricky.create(connection)
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE bulk CHARACTER SET utf8mb4")
            cursor.execute("CREATE TABLE bulk.items (id INT NOT NULL PRIMARY KEY, "
                           "owner VARCHAR(36) NOT NULL, body TEXT NULL, created DATETIME, "
                           "KEY idx_owner (owner)) ENGINE=InnoDB")
            cursor.execute("INSERT INTO bulk.items SELECT seq, UUID(), "
                           "IF(seq % 10 = 0, NULL, REPEAT(CONCAT('r', seq, '\t'), 20)), "
                           "NOW() - INTERVAL seq SECOND FROM bulk.seq_1_to_200000")
            cursor.execute("ANALYZE TABLE bulk.items")
            cursor.fetchall()
        connection.commit()
    finally:
        connection.close()
    return server


@pytest.fixture(scope="session")
def source(source_server: MariaDBServer) -> DbEndpoint:
    return endpoint_of(source_server)


@pytest.fixture()
def target_server(db_root: Path, request: pytest.FixtureRequest) -> Iterator[MariaDBServer]:
    """A fresh, empty target per test, stopped (by PID) at its end."""
    with running_mariadb(db_root / f"target-{request.node.name[:40]}",
                         name="target") as server:
        yield server


@pytest.fixture()
def target(target_server: MariaDBServer) -> DbEndpoint:
    return endpoint_of(target_server)
