"""Prove that two database endpoints are two different servers, by identity, not by name.

sbs promises never to write the old side. A copy with --replace drops the target's
databases first, so if "old" and "new" are one server under two names (`127.0.0.1` and
`localhost`, a DNS name and its address, a trailing dot, a VIP or proxy in front of the
same node, two nodes of one Galera cluster) the old databases are gone. Names cannot
decide this; only the servers themselves can. Three proofs, each for a case the others
miss:

1. `@@server_uuid` (MySQL; MariaDB has no such variable): equal uuids are one server.
   Cheap, but it proves nothing on MariaDB, and a cloned datadir can share a uuid.
2. A user-level lock (always, both servers): the old side's session takes a lock with a
   random name, `GET_LOCK(name, 0)`, and the new side's session asks `IS_USED_LOCK(name)`.
   User locks live in one server's memory, so the new side sees the lock if and only if
   it is the very same server process, whatever name, address or proxy led there. It
   writes no data (a read-only session may take it) and is released at once.
3. Galera: user locks are per node, so two nodes of one cluster pass proof 2, yet they
   hold the same data and a DROP on one drops on all. The same non-empty
   `wsrep_cluster_state_uuid` on both sides means the same cluster: refused too.

Raises SameServerError (InputError, exit 2) naming both inventory fields and showing
@@hostname, @@port and @@datadir of both, or UnreachableError (exit 8).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sidebyside.db.client import ReadOnlySession
from sidebyside.db.endpoint import DbEndpoint
from sidebyside.errors import InputError, SbsError

LOCK_PREFIX = "sbs-identity-"


class SameServerError(InputError):
    """The old and the new database endpoints are the same server (or cluster)."""

    kind = "same-server"


@dataclass(frozen=True)
class ServerIdentity:
    server_uuid: str | None     # MySQL's @@server_uuid; None on MariaDB
    hostname: str               # @@hostname: the machine the server runs on
    port: int                   # @@port: what the server listens on (not what we dialled)
    datadir: str                # @@datadir
    version: str
    galera_cluster: str | None  # wsrep_cluster_state_uuid; None outside Galera

    def describe(self) -> str:
        return f"{self.hostname}:{self.port} {self.datadir}"


def _identity_of(session: ReadOnlySession) -> ServerIdentity:
    row = session.query_one("SELECT @@hostname, @@port, @@datadir, VERSION()")
    if row is None:
        raise InputError(f"{session.where}: the server did not say who it is")
    hostname, port, datadir, version = (_text(v) for v in row)
    try:
        uuid = session.value("SELECT @@server_uuid")
    except SbsError:
        # MariaDB: ERROR 1193 unknown system variable; proof 2 covers it
        uuid = None
    galera = None
    status = session.query_one("SHOW GLOBAL STATUS LIKE 'wsrep_cluster_state_uuid'")
    if status is not None and _text(status[1]).strip():
        galera = _text(status[1]).strip()
    return ServerIdentity(server_uuid=_text(uuid) if uuid else None, hostname=hostname,
                          port=int(port), datadir=datadir, version=version,
                          galera_cluster=galera)


def server_identity(endpoint: DbEndpoint) -> ServerIdentity:
    """Who the server at `endpoint` is (read-only session). Raises UnreachableError."""
    with ReadOnlySession(endpoint, role="database") as session:
        return _identity_of(session)


def require_distinct_servers(old: DbEndpoint, new: DbEndpoint, *,
                             old_field: str = "old.database",
                             new_field: str = "new.database"
                             ) -> tuple[ServerIdentity, ServerIdentity]:
    """Prove `old` and `new` are different servers and not one Galera cluster.

    Both sessions are read-only: the proof itself writes nothing on either side.
    Returns both identities. Raises SameServerError (exit 2) naming both fields with
    @@hostname, @@port and @@datadir of both; UnreachableError when either side cannot
    be reached.
    """
    with ReadOnlySession(old, role=old_field) as old_session, \
            ReadOnlySession(new, role=new_field) as new_session:
        old_id, new_id = _identity_of(old_session), _identity_of(new_session)

        def refuse(why: str) -> SameServerError:
            return SameServerError(
                f"{old_field} ({old.address}) and {new_field} ({new.address}) are {why}: "
                f"{old_field} is {old_id.describe()}, {new_field} is {new_id.describe()}; "
                f"sbs would write the old side",
                hint=f"point {new_field} at a different server")

        # proof 1: MySQL says who it is
        if old_id.server_uuid and old_id.server_uuid == new_id.server_uuid:
            raise refuse(f"the same server (server_uuid {old_id.server_uuid})")
        # proof 2: a lock only the same server process can see
        if _shares_lock(old_session, new_session):
            raise refuse("the same server (a lock taken through the first is held "
                         "on the second)")
        # proof 3: two nodes of one cluster are the same data
        if old_id.galera_cluster and old_id.galera_cluster == new_id.galera_cluster:
            raise refuse(f"nodes of the same Galera cluster "
                         f"(wsrep_cluster_state_uuid {old_id.galera_cluster})")
        return old_id, new_id


def _shares_lock(old: ReadOnlySession, new: ReadOnlySession) -> bool:
    """True when a lock taken by `old` is visible to `new`: one server behind both.

    The name is random so that two sbs runs, or a left-over lock, cannot collide.
    """
    name = LOCK_PREFIX + secrets.token_hex(16)
    taken = old.value("SELECT GET_LOCK(%s, 0)", (name,))
    if taken != 1:
        # a fresh random name is free on any server; anything else is not a proof
        raise InputError(f"{old.where}: could not take the identity lock {name}")
    try:
        return new.value("SELECT IS_USED_LOCK(%s)", (name,)) is not None
    finally:
        old.value("SELECT RELEASE_LOCK(%s)", (name,))


def _text(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)
