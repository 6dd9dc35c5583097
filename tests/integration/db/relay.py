"""A real TCP relay on 127.0.0.1 in front of a database server, for the tests.

`forward` mode relays everything: the server reached under another address, as a VIP
or a proxy in front of the same node would. `freeze_after_login` relays the MySQL
handshake and login, then stops forwarding at the client's first query while keeping
both sockets open: a half-open connection, the case a read timeout must end.
`freeze_on=b"LOAD DATA"` does the same at the first client packet holding those bytes:
the connection dies half-open in the middle of a copy.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

COM_QUERY = 0x03


class Relay:
    def __init__(self, upstream: tuple[str, int], *, freeze_after_login: bool = False,
                 freeze_on: bytes | None = None) -> None:
        self.upstream = upstream
        self.freeze_after_login = freeze_after_login
        self.freeze_on = freeze_on
        self.frozen = threading.Event()  # set once a connection stopped being forwarded
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._sockets: list[socket.socket] = [self._listener]
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="relay-accept", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self._sockets += [client, server]
            stopped = threading.Event()  # this connection no longer forwards
            threading.Thread(target=self._pump, args=(client, server, True, stopped),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False, stopped),
                             daemon=True).start()

    def _pump(self, reader: socket.socket, writer: socket.socket, from_client: bool,
              stopped: threading.Event) -> None:
        while not self._closed.is_set():
            try:
                data = reader.recv(65536)
            except OSError:
                return
            if not data:
                return
            # a MySQL packet: 3 bytes length, 1 byte sequence, then the command; a new
            # command starts at sequence 0, the login answers with sequence 1
            first_query = (self.freeze_after_login and len(data) > 4
                           and data[3] == 0 and data[4] == COM_QUERY)
            if from_client and (first_query or (self.freeze_on and self.freeze_on in data)):
                stopped.set()
                self.frozen.set()
            if stopped.is_set():
                continue  # swallowed: both sockets stay open, nothing moves
            with contextlib.suppress(OSError):
                writer.sendall(data)

    def close(self) -> None:
        self._closed.set()
        for item in self._sockets:
            with contextlib.suppress(OSError):
                item.close()


@contextlib.contextmanager
def relay(upstream: tuple[str, int], **options: Any) -> Iterator[Relay]:
    running = Relay(upstream, **options)
    try:
        yield running
    finally:
        running.close()
