"""Source checksums computed ahead of the copy workers: what is handed over, and where
it stops. A stand-in reader answers the checksum queries."""

from __future__ import annotations

import threading
from typing import Any

from sidebyside.db.copy import SourceChecksumsAhead
from sidebyside.db.sql import Chunk, Column, TableInfo

TABLE = TableInfo("nova", "instances", (Column("id", "int"),), ("id",), 30, 300, "id",
                  (Chunk(0, None, 10), Chunk(1, 10, 20), Chunk(2, 20, None)))
SMALL = TableInfo("glance", "images", (Column("id", "int"),), ("id",), 5, 50, "id")


class FakeReader:
    where = "source test:3306"

    def __init__(self, fail_after: int | None = None,
                 on_query: Any = None) -> None:
        self.queries: list[str] = []
        self.fail_after = fail_after
        self.on_query = on_query

    def rows(self, sql: str) -> list[list[bytes]]:
        if self.fail_after is not None and len(self.queries) >= self.fail_after:
            raise OSError("lost connection")
        self.queries.append(sql)
        if self.on_query:
            self.on_query(sql)
        return [[b"10", str(len(self.queries)).encode(), b"0"]]


def order() -> list[tuple[TableInfo, Chunk]]:
    # the workers start at the biggest table; ahead starts from the other end
    work = [(TABLE, c) for c in TABLE.chunks] + [(SMALL, SMALL.chunks[0])]
    return list(reversed(work))


def test_computes_from_the_end_until_the_chunk_a_worker_has_claimed() -> None:
    ahead = SourceChecksumsAhead()
    ahead.claim(TABLE, TABLE.chunks[1])
    reader = FakeReader()
    ahead.compute(reader, order(), threading.Event())  # type: ignore[arg-type]
    assert len(reader.queries) == 2 and ahead.computed == 2
    assert "`glance`.`images`" in reader.queries[0] and "`id` >= 20" in reader.queries[1]
    assert ahead.take(SMALL, SMALL.chunks[0]) == [10, 1, 0]
    assert ahead.take(SMALL, SMALL.chunks[0]) is None  # handed over once
    assert ahead.take(TABLE, TABLE.chunks[2]) == [10, 2, 0]
    assert ahead.take(TABLE, TABLE.chunks[0]) is None


def test_a_chunk_claimed_while_its_checksum_runs_is_left_to_the_worker() -> None:
    ahead = SourceChecksumsAhead()
    reader = FakeReader(on_query=lambda sql: ahead.claim(SMALL, SMALL.chunks[0]))
    ahead.compute(reader, order()[:1], threading.Event())  # type: ignore[arg-type]
    assert ahead.take(SMALL, SMALL.chunks[0]) is None and ahead.computed == 0


def test_a_failing_reader_or_a_stop_ends_it_quietly() -> None:
    ahead = SourceChecksumsAhead()
    ahead.compute(FakeReader(fail_after=1), order(), threading.Event())  # type: ignore[arg-type]
    assert ahead.computed == 1 and ahead.take(TABLE, TABLE.chunks[2]) is None
    stopped = SourceChecksumsAhead()
    stopped.stop()
    reader = FakeReader()
    stopped.compute(reader, order(), threading.Event())  # type: ignore[arg-type]
    assert reader.queries == []
    aborted = threading.Event()
    aborted.set()
    SourceChecksumsAhead().compute(reader, order(), aborted)  # type: ignore[arg-type]
    assert reader.queries == []
