"""Database copy, verification, backups and positions (see copy.py for the run's order).

Public API:
    DbEndpoint, endpoint_from_url, endpoint_from_inventory, parse_url
    (passwords: sidebyside.passwords.read_password, the one reader)
    copy_databases(source, target, databases, *, workers, replace, state_dir, progress)
    verify_databases(source, target, databases, *, state_dir=None)
    copy_is_verified(state_dir, databases=None, *, target=None), require_verified(...)
    backup(source, databases, dest_dir, *, extra_files), restore_test(backup_dir, ...)
    record_position(endpoint, databases), changes_since(endpoint, position)
    require_distinct_servers(old, new, *, old_field, new_field), server_identity(endpoint)
        (identity.py: old and new proven different servers, SameServerError otherwise)
Sessions (client.py): ReadOnlySession for everything read (the whole old side),
TargetSession the only type anything is written through.
Also: position.py (binlog/GTID position, read_position), checksum.py (a chunk's
checksum on a server), server_facts.py (the pre-flight's read-only questions:
version, datadir, databases and their sizes), mariadb_server.py (a MariaDB server of
its own, for the backup's restore test; the lab and the tests use it too).
"""

from sidebyside.db.copy import copy_databases
from sidebyside.db.endpoint import (
    DbEndpoint,
    endpoint_from_inventory,
    endpoint_from_url,
    parse_url,
)
from sidebyside.db.identity import (
    SameServerError,
    ServerIdentity,
    require_distinct_servers,
    server_identity,
)
from sidebyside.db.report import CopyReport, ProgressEvent, VerifyReport
from sidebyside.db.state import copy_is_verified, require_verified

__all__ = ["CopyReport", "DbEndpoint", "ProgressEvent", "SameServerError", "ServerIdentity",
           "VerifyReport", "copy_databases", "copy_is_verified", "endpoint_from_inventory",
           "endpoint_from_url", "parse_url", "require_distinct_servers",
           "require_verified", "server_identity"]
