"""The lab's MariaDB servers and the service databases on them (adapter).

Each side has one MariaDB (a Galera cluster's role) on its first controller. Which
databases a service has is the catalog's (`services/catalog.yaml`); statements go
through the db package's `TargetSession`, the one session type sbs writes through.
"""

from __future__ import annotations

from sidebyside.db.client import TargetSession
from sidebyside.db.endpoint import DbEndpoint
from sidebyside.db.mariadb_server import MariaDBServer
from sidebyside.db.schema import list_databases
from sidebyside.db.sql import quote_ident
from sidebyside.lab.layout import LabLayout
from sidebyside.services.catalog import service


def side_server(layout: LabLayout, side: str) -> MariaDBServer:
    """The side's one MariaDB, on its first controller."""
    topology = layout.topology
    return MariaDBServer(layout.mariadb_dir(side), host=topology.db_address(side),
                         port=topology.db_port, name=f"lab-{side}-db")


def root_session(server: MariaDBServer) -> TargetSession:
    """A session as the server's root. Raises UnreachableError, DbStepFailed."""
    return TargetSession(DbEndpoint(server.host, server.port, "root", server.root_password),
                         role=f"lab {server.name}")


def create_service_databases(server: MariaDBServer, services: tuple[str, ...],
                             passwords: dict[str, str], *, with_databases: bool) -> None:
    """Each service's user, granted its databases, as a deployment creates them; the
    databases themselves only `with_databases` (the old server: the new one holds no
    data before `sbs prepare`). Raises UnreachableError, DbStepFailed."""
    with root_session(server) as session:
        for name in services:
            databases = service(name).databases
            if not databases:  # horizon: no database, no database user
                continue
            if with_databases:
                _create(session, databases)
            _grant(session, name, passwords[f"{name}-db"], databases)


def _create(session: TargetSession, databases: tuple[str, ...]) -> None:
    for database in databases:
        session.execute(f"CREATE DATABASE IF NOT EXISTS {quote_ident(database)} "
                        f"CHARACTER SET utf8mb4")


def _grant(session: TargetSession, user: str, password: str,
           databases: tuple[str, ...]) -> None:
    session.execute("CREATE USER IF NOT EXISTS %s@'%%' IDENTIFIED BY %s", (user, password))
    for database in databases:
        session.execute(f"GRANT ALL PRIVILEGES ON {quote_ident(database)}.* TO %s@'%%'",
                        (user,))


def drop_service_databases(server: MariaDBServer, services: tuple[str, ...]) -> list[str]:
    """Drop the services' databases that exist on `server`; returns those dropped.
    Raises UnreachableError, DbStepFailed."""
    with root_session(server) as session:
        present = set(list_databases(session))
        dropped = [database for name in services for database in service(name).databases
                   if database in present]
        for database in dropped:
            session.execute(f"DROP DATABASE {quote_ident(database)}")
    return dropped
