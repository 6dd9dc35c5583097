"""Pure SQL building and planning for the database copy: no connections, no effects.

Everything here is text in, text out, so it is unit-tested without a server:
identifier quoting, the per-column expressions the *source server* uses to format rows
for LOAD DATA, the checksum query, PK-range chunk planning, and the split of a
`SHOW CREATE TABLE` into "create now" and "add after the data" parts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# Column families by how a value travels through the LOAD DATA text stream.
_QUOTED_TYPES = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum",
                 "set", "json", "binary", "varbinary", "tinyblob", "blob", "mediumblob",
                 "longblob", "geometry", "point", "linestring", "polygon", "multipoint",
                 "multilinestring", "multipolygon", "geometrycollection", "inet6", "uuid",
                 "inet4"}
_BINARY_TYPES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
_INTEGER_TYPES = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint"}

# The text format of the stream: the source server emits it, LOAD DATA reads it back.
# Strings travel as QUOTE() output ('...' with \\ \' \0 \Z escaped; raw tabs and
# newlines are safe inside the enclosure); an unenclosed NULL is SQL NULL; numbers
# and dates travel bare.
LOAD_FORMAT = ("CHARACTER SET binary FIELDS TERMINATED BY '\\t' OPTIONALLY ENCLOSED BY '\\'' "
               "ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'")


def quote_ident(name: str) -> str:
    """Quote a MySQL identifier with backticks (a backtick inside is doubled)."""
    return "`" + name.replace("`", "``") + "`"


def qualified(database: str, table: str) -> str:
    return f"{quote_ident(database)}.{quote_ident(table)}"


def quote_literal(value: str) -> str:
    """A SQL string literal (for names in WHERE clauses built without driver params)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str            # information_schema.COLUMNS.DATA_TYPE, lower case
    generated: bool = False   # virtual/stored generated: never written, only compared
    nullable: bool = True     # IS_NULLABLE; when unknown, assumed (the safe side)
    collation: str | None = None  # COLLATION_NAME of a text column; None: not known

    @property
    def family(self) -> str:
        t = self.data_type.lower()
        if t in _QUOTED_TYPES:
            return "binary" if t in _BINARY_TYPES else "quoted"
        if t == "float":
            return "float"
        if t == "bit":
            return "bit"
        return "bare"


@dataclass(frozen=True)
class Chunk:
    """A primary-key range [lower, upper) of one table; None = unbounded."""

    index: int
    lower: int | None = None
    upper: int | None = None

    def predicate(self, key_column: str | None) -> str:
        if key_column is None or (self.lower is None and self.upper is None):
            return "1=1"
        parts = []
        if self.lower is not None:
            parts.append(f"{quote_ident(key_column)} >= {int(self.lower)}")
        if self.upper is not None:
            parts.append(f"{quote_ident(key_column)} < {int(self.upper)}")
        return " AND ".join(parts)

    def to_dict(self) -> dict[str, int | None]:
        return {"index": self.index, "lower": self.lower, "upper": self.upper}


@dataclass(frozen=True)
class TableInfo:
    database: str
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    estimated_rows: int = 0
    estimated_bytes: int = 0
    range_column: str | None = None      # integer first PK column: chunkable by range
    chunks: tuple[Chunk, ...] = field(default=(Chunk(0),))

    @property
    def key(self) -> str:
        return f"{self.database}.{self.name}"

    @property
    def writable_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if not c.generated)


# Measured (bench/results/db-copy.md): 100k-row transactions cost the target ~35% less
# CPU than one transaction per table, and let both workers share a dominant table.
DEFAULT_ROWS_PER_CHUNK = 100_000


def range_column_of(columns: tuple[Column, ...], primary_key: tuple[str, ...]) -> str | None:
    """The PK's first column when it is an integer: its ranges partition the table."""
    if not primary_key:
        return None
    first = next((c for c in columns if c.name == primary_key[0]), None)
    if first is None or first.data_type.lower() not in _INTEGER_TYPES:
        return None
    return first.name


def plan_chunks(lowest: int | None, highest: int | None, estimated_rows: int,
                rows_per_chunk: int, *, max_chunks: int = 256) -> tuple[Chunk, ...]:
    """Split [lowest, highest] into about estimated_rows/rows_per_chunk equal ranges.

    The first chunk is unbounded below and the last unbounded above, so the chunks
    cover every row whatever the estimate or a concurrent insert said.
    """
    if lowest is None or highest is None or highest <= lowest or rows_per_chunk <= 0:
        return (Chunk(0),)
    wanted = min(max_chunks, max(1, math.ceil(estimated_rows / rows_per_chunk)),
                 highest - lowest + 1)
    if wanted <= 1:
        return (Chunk(0),)
    step = math.ceil((highest - lowest + 1) / wanted)
    bounds = [lowest + step * i for i in range(1, wanted) if lowest + step * i <= highest]
    edges: list[int | None] = [None, *bounds, None]
    return tuple(Chunk(i, edges[i], edges[i + 1]) for i in range(len(edges) - 1))


# ----------------------------------------------------------------- streaming
def select_expression(column: Column) -> str:
    """How the source server formats one column for the LOAD DATA stream."""
    name = quote_ident(column.name)
    family = column.family
    if family == "binary":
        return f"QUOTE({name})"
    if family == "quoted":
        # CAST to binary: QUOTE then works bytewise and the bytes leave unconverted
        return f"QUOTE(CAST({name} AS BINARY))"
    if family == "float":
        # FLOAT prints with 6 digits; as DOUBLE it round-trips exactly
        return f"CAST({name} AS DOUBLE)"
    if family == "bit":
        return f"{name}+0"
    return name


def line_expression(table: TableInfo) -> str:
    """One row as one LOAD DATA line, built by the source server.

    QUOTE() gives the word NULL for a NULL string; the other nullable columns say it
    through IFNULL, since CONCAT of a NULL would be NULL.
    """
    parts = []
    for column in table.writable_columns:
        expression = select_expression(column)
        if column.nullable and column.family not in ("binary", "quoted"):
            expression = f"IFNULL({expression}, 'NULL')"
        parts.append(expression)
    return "CONCAT(" + ", '\\t', ".join(parts) + ")"


def _order_by(table: TableInfo) -> str:
    if not table.primary_key:
        return ""
    return " ORDER BY " + ", ".join(quote_ident(c) for c in table.primary_key)


def select_lines_sql(table: TableInfo, chunk: Chunk) -> str:
    """The rows of one chunk (or piece), one LOAD DATA line per result row."""
    return (f"SELECT {line_expression(table)} FROM {qualified(table.database, table.name)} "
            f"WHERE {chunk.predicate(table.range_column)}{_order_by(table)}")


def select_piece_sql(table: TableInfo, piece: Chunk) -> str:
    """The rows of one piece as a single value, its lines joined by newlines, and the
    piece's checksum (checksum_aggregates) from the same scan of the rows.

    One result row per piece instead of one per table row: the client then moves
    a few large values, with no per-row work at all. The range scan reads the
    clustered index in key order, so the lines come in key order, which the load
    into the target's clustered index wants. GROUP_CONCAT cuts a value longer than
    group_concat_max_len and says so with a warning: the reader checks for it and
    reads that piece row by row instead (select_lines_sql); the aggregates are not
    affected by the cut.
    """
    return (f"SELECT GROUP_CONCAT({line_expression(table)} SEPARATOR '\\n'), "
            f"{checksum_aggregates(table)} FROM {qualified(table.database, table.name)} "
            f"WHERE {piece.predicate(table.range_column)}")


def average_row_bytes(table: TableInfo) -> int:
    if table.estimated_rows > 0 and table.estimated_bytes > 0:
        return max(1, table.estimated_bytes // table.estimated_rows)
    return 256


def plan_pieces(lowest: int, highest: int, estimated_rows: int, row_bytes: int,
                piece_bytes: int, *, max_pieces: int = 1024) -> tuple[Chunk, ...]:
    """Split the key range [lowest, highest] (the chunk's actual MIN and MAX) into pieces
    of about piece_bytes each, assuming its rows spread evenly over it.

    estimated_rows is the chunk's share of the table's estimate; 0 (statistics not
    known yet) counts as one row per key value; max_pieces bounds the queries when
    that guess is far off (sparse keys). The pieces cover the range exactly, so
    together they select what the chunk selects.
    """
    span = highest - lowest + 1
    if span <= 0:
        return (Chunk(0, lowest, highest + 1),)
    rows = estimated_rows if estimated_rows > 0 else span
    rows_per_piece = max(1, piece_bytes // max(1, row_bytes))
    count = max(1, min(span, max_pieces, math.ceil(rows / rows_per_piece)))
    step = math.ceil(span / count)
    bounds = list(range(lowest, highest + 1, step)) + [highest + 1]
    return tuple(Chunk(i, bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1))


def load_data_sql(table: TableInfo, infile: str) -> str:
    """LOAD DATA LOCAL for the stream of `select_chunk_sql` (BIT goes through a variable)."""
    targets: list[str] = []
    assignments: list[str] = []
    for index, column in enumerate(table.writable_columns):
        if column.family == "bit":
            variable = f"@sbs_bit{index}"
            targets.append(variable)
            assignments.append(f"{quote_ident(column.name)} = CAST({variable} AS UNSIGNED)")
        else:
            targets.append(quote_ident(column.name))
    sql = (f"LOAD DATA LOCAL INFILE {quote_literal(infile)} INTO TABLE "
           f"{qualified(table.database, table.name)} {LOAD_FORMAT} ({', '.join(targets)})")
    if assignments:
        sql += " SET " + ", ".join(assignments)
    return sql


def delete_chunk_sql(table: TableInfo, chunk: Chunk) -> str:
    return (f"DELETE FROM {qualified(table.database, table.name)} "
            f"WHERE {chunk.predicate(table.range_column)}")


# ---------------------------------------------------------------- checksums
def checksum_expression(column: Column, *, cast_text: bool = True) -> str:
    name = quote_ident(column.name)
    family = column.family
    if family == "quoted" and cast_text:
        return f"CAST({name} AS BINARY)"
    if family == "float":
        return f"CAST({name} AS DOUBLE)"
    if family == "bit":
        return f"{name}+0"
    return name


def text_needs_cast(columns: tuple[Column, ...]) -> bool:
    """Whether the checksum must CAST the text columns to binary: unless they all share
    one known collation. CONCAT_WS then takes their bytes as they are (numbers and dates
    convert to ASCII digits), so the row hash is the same as with the CASTs, which cost
    the servers about a sixth of the checksum (bench/results/db-copy.md). Two collations
    in one CONCAT_WS would be converted or refused ("Illegal mix of collations")."""
    collations = {c.collation for c in columns if c.family == "quoted"}
    return len(collations) > 1 or None in collations


# NULL flags of up to this many columns add up into one BIGINT (2**0 + ... + 2**59)
_FLAGS_PER_SUM = 60


def null_flags(columns: tuple[Column, ...]) -> list[str]:
    """Expressions telling which nullable columns are NULL: per group of 60, the sum
    of ISNULL(column) * 2**position. Columns declared NOT NULL need none. Pure."""
    nullable = [c for c in columns if c.nullable]
    sums = []
    for start in range(0, len(nullable), _FLAGS_PER_SUM):
        group = nullable[start:start + _FLAGS_PER_SUM]
        sums.append(" + ".join(f"ISNULL({quote_ident(c.name)})" if i == 0
                               else f"ISNULL({quote_ident(c.name)}) * {1 << i}"
                               for i, c in enumerate(group)))
    return sums


def checksum_sql(table: TableInfo, chunk: Chunk) -> str:
    """Row count and BIT_XOR of CRC32 over every column, server-side, for one chunk.

    In the spirit of pt-table-checksum: CONCAT_WS skips NULLs, so the NULL flags of
    the nullable columns are appended to tell NULL from '' (as a number: cheaper for
    the servers than a string of flags, and the checksums cost both servers CPU in the
    copy). A table without a primary key may hold equal rows, whose CRCs cancel in the
    XOR: for those the SUM of the CRCs is added (it costs a second CRC per row, so
    tables with a key, whose rows all differ, go without).
    """
    return (f"SELECT {checksum_aggregates(table)} "
            f"FROM {qualified(table.database, table.name)} "
            f"WHERE {chunk.predicate(table.range_column)}")


def checksum_aggregates(table: TableInfo) -> str:
    """The three aggregates of checksum_sql (count, BIT_XOR, SUM or 0), for any query
    over the table's rows."""
    cast_text = text_needs_cast(table.columns)
    values = ", ".join([*(checksum_expression(c, cast_text=cast_text) for c in table.columns),
                        *null_flags(table.columns)])
    row_hash = f"CRC32(CONCAT_WS('#', {values}))"
    total = f"COALESCE(SUM({row_hash}), 0)" if not table.primary_key else "0"
    return f"COUNT(*), COALESCE(BIT_XOR({row_hash}), 0), {total}"


EMPTY_CHECKSUM = (0, 0, 0)


def as_checksum(values: Sequence[Any]) -> tuple[int, int, int]:
    """The three aggregates of checksum_aggregates as the driver returned them, as ints."""
    return int(values[0]), int(values[1]), int(values[2])


def combine_checksums(first: Sequence[Any], second: Sequence[Any]) -> tuple[int, int, int]:
    """The checksum of the union of two disjoint row sets: counts and sums add up, the
    XORs XOR. So a chunk's checksum is the combination of its pieces'."""
    (count, xor, total), (count2, xor2, total2) = as_checksum(first), as_checksum(second)
    return count + count2, xor ^ xor2, total + total2


# ------------------------------------------------------------ schema splitting
_DEFERRABLE = re.compile(r"^\s+(?:(?:UNIQUE |FULLTEXT |SPATIAL )?KEY |"
                         r"CONSTRAINT `(?:[^`]|``)+` FOREIGN KEY )")
_AUTO_INCREMENT_COLUMN = re.compile(r"^\s+`((?:[^`]|``)+)` .*\bAUTO_INCREMENT\b")
_KEY_COLUMNS = re.compile(r"KEY (?:`(?:[^`]|``)+` )?\(`((?:[^`]|``)+)`")
_TABLE_AUTO_INCREMENT = re.compile(r" AUTO_INCREMENT=\d+")


@dataclass(frozen=True)
class SplitTable:
    create: str                     # CREATE TABLE with only what the load needs
    deferred: tuple[str, ...]       # "ADD KEY ..." / "ADD CONSTRAINT ... FOREIGN KEY ..."


def split_create_table(create: str) -> SplitTable:
    """Move secondary indexes and foreign keys out of a SHOW CREATE TABLE statement.

    They are added after the data in one ALTER TABLE (a sorted index build instead of
    one B-tree insert per row). Kept in place: the primary key, CHECK constraints, and
    any index whose first column is the AUTO_INCREMENT column (InnoDB needs it).
    """
    lines = create.split("\n")
    auto_increment = None
    for line in lines:
        match = _AUTO_INCREMENT_COLUMN.match(line)
        if match:
            auto_increment = match.group(1)
    kept: list[str] = []
    deferred: list[str] = []
    for line in lines:
        if _DEFERRABLE.match(line):
            key_columns = _KEY_COLUMNS.search(line)
            is_foreign = "FOREIGN KEY" in line
            if (not is_foreign and auto_increment is not None and key_columns
                    and key_columns.group(1) == auto_increment):
                kept.append(line)
                continue
            deferred.append("ADD " + line.strip().rstrip(","))
        else:
            kept.append(line)
    # the definition before the closing ") ENGINE=..." must not end with a comma
    for i in range(len(kept) - 1, 0, -1):
        if kept[i].startswith(")"):
            kept[i - 1] = kept[i - 1].rstrip().rstrip(",")
            break
    # foreign keys need their indexes first
    deferred.sort(key=lambda clause: "FOREIGN KEY" in clause)
    return SplitTable("\n".join(kept), tuple(deferred))


def normalized_create(create: str) -> tuple[str, ...]:
    """A SHOW CREATE TABLE reduced to what must be equal between source and target:
    the definition lines as a sorted set, without the AUTO_INCREMENT counter (which
    the target may legitimately have advanced) and without line-ending commas."""
    lines = [_TABLE_AUTO_INCREMENT.sub("", line).rstrip().rstrip(",")
             for line in create.split("\n")]
    return tuple(sorted(line for line in lines if line))


def deferred_name(clause: str) -> str:
    """The index or constraint name of an "ADD ..." clause, for resume bookkeeping."""
    match = re.search(r"(?:KEY|CONSTRAINT) `((?:[^`]|``)+)`", clause)
    return match.group(1).replace("``", "`") if match else clause
