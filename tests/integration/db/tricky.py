"""The tricky database: every value shape a naive copy gets wrong."""

from __future__ import annotations

from typing import Any

DATABASES = ("tricky", "tricky_api")

STATEMENTS = [
    "CREATE DATABASE tricky CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
    "CREATE DATABASE tricky_api CHARACTER SET latin1",
    """CREATE TABLE tricky.parents (
        id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        name VARCHAR(64) NOT NULL,
        UNIQUE KEY uniq_name (name)
    ) ENGINE=InnoDB AUTO_INCREMENT=1000""",
    """CREATE TABLE tricky.values_ (
        id BIGINT NOT NULL AUTO_INCREMENT,
        parent_id INT UNSIGNED NULL,
        blob_col LONGBLOB NULL,
        bin_col VARBINARY(16) NULL,
        emoji VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
        latin VARCHAR(100) CHARACTER SET latin1 NULL,
        empty_or_null TEXT NULL,
        zero_date DATETIME NULL,
        extreme_date DATETIME(6) NULL,
        ts TIMESTAMP NULL DEFAULT NULL,
        day DATE NULL,
        amount DECIMAL(65,30) NULL,
        ratio FLOAT NULL,
        big DOUBLE NULL,
        flags BIT(7) NULL,
        kind ENUM('a','b','c') NULL,
        tags SET('x','y','z') NULL,
        doc JSON NULL,
        doc_kind VARCHAR(20) AS (JSON_VALUE(doc, '$.kind')) VIRTUAL,
        name_len INT AS (CHAR_LENGTH(emoji)) PERSISTENT,
        PRIMARY KEY (id),
        KEY idx_parent (parent_id),
        KEY idx_doc_kind (doc_kind),
        CONSTRAINT fk_values_parent FOREIGN KEY (parent_id) REFERENCES parents (id)
            ON DELETE SET NULL
    ) ENGINE=InnoDB ROW_FORMAT=DYNAMIC AUTO_INCREMENT=5000""",
    """CREATE TABLE tricky.no_pk (
        a INT NULL, b VARCHAR(10) NULL, c TEXT NULL
    ) ENGINE=InnoDB""",
    """CREATE TABLE tricky.composite (
        region VARCHAR(20) NOT NULL, num INT NOT NULL, seq SMALLINT NOT NULL,
        payload VARCHAR(200) NULL,
        PRIMARY KEY (region, num, seq), KEY idx_payload (payload(10))
    ) ENGINE=InnoDB""",
    """CREATE TABLE tricky.audit (
        id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, what VARCHAR(200) NOT NULL
    ) ENGINE=InnoDB""",
    """CREATE TABLE tricky_api.old_style (
        id INT NOT NULL PRIMARY KEY, note VARCHAR(50) NULL, counter INT NOT NULL DEFAULT 0
    ) ENGINE=InnoDB ROW_FORMAT=COMPACT""",
    """CREATE TRIGGER tricky.values_audit AFTER INSERT ON tricky.values_ FOR EACH ROW
        INSERT INTO tricky.audit (what) VALUES (CONCAT('inserted ', NEW.id))""",
    """CREATE VIEW tricky.parent_counts AS
        SELECT p.name, COUNT(v.id) AS n FROM tricky.parents p
        LEFT JOIN tricky.values_ v ON v.parent_id = p.id GROUP BY p.name""",
    """CREATE VIEW tricky.parent_counts_big AS
        SELECT name FROM tricky.parent_counts WHERE n > 1""",
    """CREATE FUNCTION tricky.double_it(x INT) RETURNS INT DETERMINISTIC RETURN x * 2""",
    """CREATE PROCEDURE tricky.count_values(OUT n INT)
        BEGIN SELECT COUNT(*) INTO n FROM tricky.values_; END""",
    """CREATE EVENT tricky.nightly ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00'
        DISABLE DO DELETE FROM tricky.audit WHERE id < 0""",
    "INSERT INTO tricky.parents (id, name) VALUES (1, 'one'), (2, 'two'), (7, 'seven')",
    "CREATE USER IF NOT EXISTS 'tricky_svc'@'%' IDENTIFIED BY 'svc-password-123'",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON tricky.* TO 'tricky_svc'@'%'",
    "GRANT SELECT ON tricky_api.old_style TO 'tricky_svc'@'%'",
]

ROWS: list[tuple[Any, ...]] = [
    # id, parent, blob, bin, emoji, latin, empty_or_null, zero_date, extreme_date, ts,
    # day, amount, ratio, big, flags, kind, tags, doc
    (1, 1, bytes(range(256)), b"\x00\x01\\\t\n'\"", "😀 smile 🚀", "café", "",
     "0000-00-00 00:00:00", "9999-12-31 23:59:59.999999", "1970-01-01 00:00:01",
     "1000-01-01", "12345678901234567890123456789012345.123456789012345678901234567890",
     3.4028234e38, 1.7976931348623157e308, 0b1010101, "a", "x,z", '{"kind": "big"}'),
    (2, None, b"", b"", "", "", None, None, "1000-01-01 00:00:00.000000",
     "2038-01-19 03:14:07", "0000-00-00", "-0.000000000000000000000000000001",
     -1.17549e-38, -2.2250738585072014e-308, 0, "c", "", "[]"),
    (3, None, None, None, None, None, None, None, None, None, None, None, None, None,
     None, None, None, None),
    (10, 7, b"\\N", b"NULL", "NULL", "\\N", "NULL", "2024-02-29 12:00:00",
     "2024-02-29 12:00:00.5", "2024-02-29 12:00:00", "2024-02-29", "0", 0.1, 0.1, 1, "b",
     "y", '{"kind": "tab\\there", "nl": "a\\nb"}'),
    # an AUTO_INCREMENT gap: ids 11..99 never existed
    (100, 2, b"x" * 70000, b"\xff" * 16, "tab\there\nnewline\\backslash'quote",
     "line1\r\nline2", "   ", "2000-01-01 00:00:00", "2000-01-01 00:00:00", None,
     "2000-01-01", "99999999999999999999999999999999999.999999999999999999999999999999",
     1.5, -0.0, 127, None, "x,y,z", '{"kind": "ünïcödé 中文 🎉"}'),
]


def create(connection: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'")
        for statement in STATEMENTS:
            cursor.execute(statement)
        cursor.executemany(
            "INSERT INTO tricky.values_ (id, parent_id, blob_col, bin_col, emoji, latin, "
            "empty_or_null, zero_date, extreme_date, ts, day, amount, ratio, big, flags, "
            "kind, tags, doc) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
            "%s, %s, %s, %s)", ROWS)
        cursor.executemany("INSERT INTO tricky.no_pk VALUES (%s, %s, %s)",
                           [(1, "a", None), (1, "a", None), (None, "", ""), (2, None, "z")])
        cursor.executemany("INSERT INTO tricky.composite VALUES (%s, %s, %s, %s)",
                           [("RegionOne", n, s, f"p{n}-{s}" if s else None)
                            for n in range(1, 40) for s in range(3)])
        cursor.executemany("INSERT INTO tricky_api.old_style VALUES (%s, %s, %s)",
                           [(i, None if i % 3 else f"note {i}", i * 7) for i in range(1, 2001)])
    connection.commit()
