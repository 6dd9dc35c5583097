"""A chunk's checksum run on a server: the one query copy, verify, backup's restore
test and position records all compare by (its SQL is sql.checksum_sql)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sidebyside.db.client import Session, SnapshotReader
from sidebyside.db.errors import DbStepFailed
from sidebyside.db.sql import Chunk, TableInfo, checksum_sql


def chunk_checksum(session: Session, table: TableInfo, chunk: Chunk) -> list[int]:
    """checksum_sql on either server (a SnapshotReader is a Session too)."""
    row = session.query_one(checksum_sql(table, chunk))
    if row is None:
        raise DbStepFailed(f"{session.where}: no checksum for {table.key}")
    return [int(v) for v in row]


def both_checksums(reader: SnapshotReader, target: Session, table: TableInfo,
                   chunk: Chunk) -> tuple[list[int], list[int]]:
    """The chunk's checksum on the source and on the target, computed at once: they
    run on different servers, and the worker would otherwise wait for one, then the
    other."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sbs-target-checksum") as pool:
        on_target = pool.submit(chunk_checksum, target, table, chunk)
        source_sum = chunk_checksum(reader, table, chunk)
        return source_sum, on_target.result()
