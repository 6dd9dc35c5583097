"""How a SnapshotReader cuts one statement's output at its end marker, whatever sizes
the pipe hands the bytes over in (the client process is replaced by a plain pipe)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from sidebyside.db.client import SnapshotReader

MARKER = b"SBS-END-0123456789abcdef0123456789abcdef\n"


def reader_on_pipe() -> tuple[SnapshotReader, int]:
    read_fd, write_fd = os.pipe()
    reader = object.__new__(SnapshotReader)  # no client process: the test writes the output
    reader._stdout_fd = read_fd
    reader._marker_line = MARKER
    reader._send = lambda sql: None  # type: ignore[method-assign]
    return reader, write_fd


def write_in_pieces(fd: int, data: bytes, sizes: list[int]) -> None:
    position = 0
    for size in sizes:
        os.write(fd, data[position:position + size])
        position += size
        time.sleep(0.002)  # let the reader take each piece on its own
    os.write(fd, data[position:])


@pytest.mark.parametrize("payload, sizes", [
    (b"", []),
    (b"", [5, 5]),
    (b"a\tb\n", [1, 1, 1]),
    (b"x" * 100, [99, 2, 3]),                 # the marker split across small reads
    (b"row\n" * 5000, [19_990, 7, 1, 30]),    # held-back bytes, then a short read
    (b"row\n" * 5000, [20_000 + 20]),         # the marker split in the middle
    (b"y" * (3 << 20), [1 << 20, 1 << 20]),   # longer than one read
])
def test_stream_hands_on_exactly_the_payload(payload: bytes, sizes: list[int]) -> None:
    reader, write_fd = reader_on_pipe()
    writer = threading.Thread(target=write_in_pieces, args=(write_fd, payload + MARKER, sizes))
    writer.start()
    received: list[bytes] = []
    try:
        total = reader.stream("SELECT 1", lambda piece: received.append(bytes(piece)))
    finally:
        writer.join()
        os.close(write_fd)
        os.close(reader._stdout_fd)
    assert b"".join(received) == payload
    assert total == len(payload)
