"""Pure SQL building and chunk planning of the database copy."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sidebyside.db.sql import (
    EMPTY_CHECKSUM,
    Chunk,
    Column,
    TableInfo,
    checksum_aggregates,
    checksum_sql,
    combine_checksums,
    deferred_name,
    line_expression,
    load_data_sql,
    normalized_create,
    null_flags,
    plan_chunks,
    plan_pieces,
    quote_ident,
    range_column_of,
    select_lines_sql,
    select_piece_sql,
    split_create_table,
    text_needs_cast,
)

COLUMNS = (Column("id", "bigint"), Column("name", "varchar"), Column("data", "longblob"),
           Column("ratio", "float"), Column("flags", "bit"), Column("g", "int", generated=True))
TABLE = TableInfo("nova", "instances", COLUMNS, ("id",), 10, 100, "id",
                  (Chunk(0, None, 100), Chunk(1, 100, None)))


def test_quote_ident_doubles_backticks() -> None:
    assert quote_ident("plain") == "`plain`"
    assert quote_ident("we`ird") == "`we``ird`"


def test_range_column_only_for_integer_first_pk_column() -> None:
    assert range_column_of(COLUMNS, ("id",)) == "id"
    assert range_column_of(COLUMNS, ("name", "id")) is None
    assert range_column_of(COLUMNS, ()) is None


def test_lines_format_each_family_and_skip_generated_columns() -> None:
    # every column is nullable here: QUOTE() says NULL itself, the others say it via IFNULL
    assert line_expression(TABLE) == (
        "CONCAT(IFNULL(`id`, 'NULL'), '\\t', QUOTE(CAST(`name` AS BINARY)), '\\t', "
        "QUOTE(`data`), '\\t', IFNULL(CAST(`ratio` AS DOUBLE), 'NULL'), '\\t', "
        "IFNULL(`flags`+0, 'NULL'))")
    assert "`g`" not in line_expression(TABLE)
    sql = select_lines_sql(TABLE, TABLE.chunks[1])
    assert sql == (f"SELECT {line_expression(TABLE)} FROM `nova`.`instances` "
                   "WHERE `id` >= 100 ORDER BY `id`")


def test_not_null_columns_go_bare() -> None:
    table = TableInfo("d", "t", (Column("id", "int", nullable=False),
                                 Column("v", "text", nullable=False)), ("id",))
    assert line_expression(table) == "CONCAT(`id`, '\\t', QUOTE(CAST(`v` AS BINARY)))"


def test_piece_is_one_grouped_value_and_its_checksum_over_the_key_range() -> None:
    sql = select_piece_sql(TABLE, Chunk(3, 100, 250))
    aggregates = checksum_aggregates(TABLE)
    assert sql == (f"SELECT GROUP_CONCAT({line_expression(TABLE)} SEPARATOR '\\n'), "
                   f"{aggregates} FROM `nova`.`instances` WHERE `id` >= 100 AND `id` < 250")
    # the very aggregates of the chunk checksum, so the two can be compared
    assert checksum_sql(TABLE, Chunk(3, 100, 250)) == (
        f"SELECT {aggregates} FROM `nova`.`instances` WHERE `id` >= 100 AND `id` < 250")


def test_checksums_of_disjoint_pieces_combine_into_the_whole() -> None:
    assert combine_checksums(EMPTY_CHECKSUM, [3, 0b1010, 7]) == (3, 0b1010, 7)
    assert combine_checksums((3, 0b1010, 7), (2, 0b0110, 5)) == (5, 0b1100, 12)
    # order does not matter
    assert combine_checksums((2, 0b0110, 5), (3, 0b1010, 7)) == (5, 0b1100, 12)


def test_pieces_split_by_estimated_bytes() -> None:
    # 1000 rows of 100 bytes over keys 1..1000, pieces of 10 kB: 10 pieces of 100 keys
    pieces = plan_pieces(1, 1000, 1000, 100, 10_000)
    assert len(pieces) == 10
    assert pieces[0] == Chunk(0, 1, 101)
    assert pieces[-1] == Chunk(9, 901, 1001)
    # sparse keys (1000 rows over 100k values): still about 10 pieces, wider ones
    assert len(plan_pieces(1, 100_000, 1000, 100, 10_000)) == 10


def test_pieces_of_a_small_or_single_key_range() -> None:
    assert plan_pieces(5, 5, 10**6, 100, 10_000) == (Chunk(0, 5, 6),)
    assert plan_pieces(1, 10, 3, 100, 10**6) == (Chunk(0, 1, 11),)


def test_unknown_row_count_assumes_one_row_per_key() -> None:
    assert len(plan_pieces(1, 1000, 0, 100, 10_000)) == 10
    # sparse 64-bit keys and no statistics: a bounded number of (mostly empty) pieces
    assert len(plan_pieces(1, 2**62, 0, 100, 10_000)) == 1024


@given(st.integers(-10**12, 10**12), st.integers(0, 10**7), st.integers(0, 10**7),
       st.integers(1, 10**5), st.integers(1, 10**7))
def test_pieces_cover_the_range_exactly(lowest: int, width: int, rows: int, row_bytes: int,
                                        piece_bytes: int) -> None:
    highest = lowest + width
    pieces = plan_pieces(lowest, highest, rows, row_bytes, piece_bytes)
    assert pieces[0].lower == lowest
    assert pieces[-1].upper == highest + 1
    for before, after in zip(pieces, pieces[1:], strict=False):
        assert before.upper == after.lower
        assert before.lower is not None and before.upper is not None
        assert before.lower < before.upper
    assert [p.index for p in pieces] == list(range(len(pieces)))


def test_load_data_names_columns_and_routes_bit_through_a_variable() -> None:
    sql = load_data_sql(TABLE, "/dev/fd/7")
    assert sql.startswith("LOAD DATA LOCAL INFILE '/dev/fd/7' INTO TABLE `nova`.`instances` "
                          "CHARACTER SET binary")
    assert "(`id`, `name`, `data`, `ratio`, @sbs_bit4) SET `flags` = CAST(@sbs_bit4 AS UNSIGNED)" \
        in sql
    assert "OPTIONALLY ENCLOSED BY '\\''" in sql and "ESCAPED BY '\\\\'" in sql


def test_checksum_covers_every_column_with_null_markers() -> None:
    sql = checksum_sql(TABLE, TABLE.chunks[0])
    assert "ISNULL(`g`)" in sql and "ISNULL(`data`)" in sql
    assert "ISNULL(`id`) + ISNULL(`name`) * 2 + ISNULL(`data`) * 4" in sql
    assert "CONCAT_WS('#', `id`, CAST(`name` AS BINARY), `data`, CAST(`ratio` AS DOUBLE)" in sql
    assert sql.count("CRC32(") == 1 and "BIT_XOR(" in sql and "SUM(" not in sql
    assert sql.endswith("WHERE `id` < 100")
    whole = TableInfo("d", "nopk", (Column("a", "int"),))
    no_key = checksum_sql(whole, whole.chunks[0])
    # equal rows cancel in a XOR: a table without a key gets the SUM too
    assert no_key.endswith("WHERE 1=1") and no_key.count("CRC32(") == 2 and "SUM(" in no_key


def test_null_flags_only_for_nullable_columns_sixty_to_a_sum() -> None:
    columns = (Column("k", "int", nullable=False),
               *(Column(f"c{i}", "varchar") for i in range(70)))
    sums = null_flags(columns)
    assert len(sums) == 2  # 60 + 10: each sum stays within a BIGINT
    assert sums[0].startswith("ISNULL(`c0`) + ISNULL(`c1`) * 2 + ")
    assert sums[0].endswith(f"ISNULL(`c59`) * {2**59}") and sums[1].startswith("ISNULL(`c60`)")
    assert "`k`" not in " ".join(sums)
    assert null_flags((Column("k", "int", nullable=False),)) == []


def test_plan_chunks_small_or_unknown_is_one_unbounded_chunk() -> None:
    assert plan_chunks(None, None, 10**6, 1000) == (Chunk(0),)
    assert plan_chunks(1, 100, 50, 1000) == (Chunk(0),)
    assert plan_chunks(5, 5, 10**6, 1000) == (Chunk(0),)


@given(low=st.integers(-10**12, 10**12), span=st.integers(1, 10**9),
       rows=st.integers(0, 10**8), per_chunk=st.integers(1, 10**7))
def test_plan_chunks_partition_every_integer(low: int, span: int, rows: int,
                                             per_chunk: int) -> None:
    chunks = plan_chunks(low, low + span, rows, per_chunk, max_chunks=64)
    assert 1 <= len(chunks) <= 64
    assert chunks[0].lower is None and chunks[-1].upper is None
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert before.upper is not None and before.upper == after.lower
    for inner in chunks[1:-1]:
        assert inner.lower is not None and inner.upper is not None
        assert inner.lower < inner.upper
    if len(chunks) > 1:  # the bounds lie inside the range, so no chunk is surely empty
        assert low < chunks[0].upper <= low + span  # type: ignore[operator]
    assert [c.index for c in chunks] == list(range(len(chunks)))


CREATE = """CREATE TABLE `instances` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `uuid` varchar(36) NOT NULL,
  `host` varchar(255) DEFAULT NULL,
  `parent_id` int(11) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `uniq_uuid` (`uuid`),
  KEY `idx_host` (`host`(20)),
  KEY `fk_parent` (`parent_id`),
  CONSTRAINT `fk_parent` FOREIGN KEY (`parent_id`) REFERENCES `instances` (`id`),
  CONSTRAINT `chk_uuid` CHECK (`uuid` <> '')
) ENGINE=InnoDB AUTO_INCREMENT=42 DEFAULT CHARSET=utf8mb4"""


def test_split_create_defers_secondary_indexes_and_foreign_keys() -> None:
    split = split_create_table(CREATE)
    assert "KEY `uniq_uuid`" not in split.create and "FOREIGN KEY" not in split.create
    assert "PRIMARY KEY (`id`)" in split.create and "CHECK (`uuid` <> '')" in split.create
    assert "CHECK (`uuid` <> '')\n) ENGINE" in split.create  # no dangling comma
    assert split.deferred == ("ADD UNIQUE KEY `uniq_uuid` (`uuid`)",
                              "ADD KEY `idx_host` (`host`(20))",
                              "ADD KEY `fk_parent` (`parent_id`)",
                              "ADD CONSTRAINT `fk_parent` FOREIGN KEY (`parent_id`) "
                              "REFERENCES `instances` (`id`)")
    assert [deferred_name(c) for c in split.deferred] == ["uniq_uuid", "idx_host", "fk_parent",
                                                          "fk_parent"]


def test_split_create_keeps_the_index_an_auto_increment_column_needs() -> None:
    create = ("CREATE TABLE `t` (\n  `a` int NOT NULL,\n  `b` int NOT NULL AUTO_INCREMENT,\n"
              "  PRIMARY KEY (`a`,`b`),\n  KEY `b` (`b`),\n  KEY `other` (`a`)\n) ENGINE=InnoDB")
    split = split_create_table(create)
    assert split.deferred == ("ADD KEY `other` (`a`)",)
    assert split.create.endswith("KEY `b` (`b`)\n) ENGINE=InnoDB")


def test_normalized_create_ignores_counter_order_and_commas() -> None:
    reordered = CREATE.replace("AUTO_INCREMENT=42", "AUTO_INCREMENT=99").replace(
        "  KEY `idx_host` (`host`(20)),\n  KEY `fk_parent` (`parent_id`),",
        "  KEY `fk_parent` (`parent_id`),\n  KEY `idx_host` (`host`(20)),")
    assert normalized_create(reordered) == normalized_create(CREATE)
    assert normalized_create(CREATE.replace("varchar(255)", "varchar(254)")) != \
        normalized_create(CREATE)


def test_text_columns_are_cast_unless_they_share_one_known_collation() -> None:
    same = (Column("id", "int"), Column("a", "varchar", collation="utf8mb4_general_ci"),
            Column("b", "json", collation="utf8mb4_general_ci"), Column("c", "blob"))
    assert not text_needs_cast(same)
    assert text_needs_cast((*same, Column("d", "text", collation="utf8mb4_bin")))
    assert text_needs_cast((*same, Column("d", "text")))  # unknown: the safe side
    assert not text_needs_cast((Column("id", "int"), Column("c", "blob")))
    table = TableInfo("d", "t", same, ("id",))
    sql = checksum_sql(table, table.chunks[0])
    assert "CONCAT_WS('#', `id`, `a`, `b`, `c`," in sql and "CAST(" not in sql
    mixed = TableInfo("d", "t", (*same, Column("d", "text", collation="latin1_swedish_ci")),
                      ("id",))
    assert "CAST(`a` AS BINARY), CAST(`b` AS BINARY), `c`, CAST(`d` AS BINARY)" in \
        checksum_sql(mixed, mixed.chunks[0])
