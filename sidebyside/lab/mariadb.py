"""The lab's MariaDB servers: the one server adapter, sidebyside.db.mariadb_server."""

from sidebyside.db.mariadb_server import DEFAULT_OPTIONS, MariaDBServer

__all__ = ["DEFAULT_OPTIONS", "MariaDBServer"]
