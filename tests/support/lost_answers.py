"""A TCP proxy to PostgreSQL that can lose the answer to a commit: the server has committed
a statement and says so, and the connection breaks before the client hears it (a network
cut, a restart of a pooler). The client cannot tell whether its write happened."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo


class AnswerLosingProxy:
    """Forwards every connection to the server of `url`. Once `lose_commit_of(tag)` is
    called, the `skip + 1`-th statement whose CommandComplete starts with `tag` (b"INSERT")
    is let through to the server, and its connection is cut when the server reports it
    ready for the next query (ReadyForQuery: the implicit transaction has committed),
    before the client receives either message. `lost` is set then."""

    def __init__(self, url: str) -> None:
        params = conninfo_to_dict(url)
        host = str(params.get("host") or "127.0.0.1")
        port = int(params.get("port") or 5432)
        self._target: tuple[int, str | tuple[str, int]] = (
            (socket.AF_UNIX, str(Path(host) / f".s.PGSQL.{port}")) if host.startswith("/")
            else (socket.AF_INET, (host, port)))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = make_conninfo(url, host="127.0.0.1", port=self._listener.getsockname()[1])
        self.lost = threading.Event()
        self._lock = threading.Lock()
        self._tag: bytes | None = None
        self._skip = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def lose_commit_of(self, tag: bytes, skip: int = 0) -> None:
        with self._lock:
            self._tag, self._skip = tag, skip
            self.lost.clear()

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            family, address = self._target
            server = socket.socket(family, socket.SOCK_STREAM)
            server.connect(address)
            threading.Thread(target=self._upstream, args=(client, server), daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client), daemon=True).start()

    @staticmethod
    def _upstream(client: socket.socket, server: socket.socket) -> None:
        with contextlib.suppress(OSError):
            # The proxy declines TLS and GSS encryption itself (the server's one-byte answer
            # is no typed message): every server message it reads is then typed.
            data = _receive(client, 8)
            while data[4:] in (SSL_REQUEST, GSSENC_REQUEST):
                client.sendall(b"N")
                data = _receive(client, 8)
            server.sendall(data)
            while data := client.recv(65536):
                server.sendall(data)
        _cut(client, server)

    def _downstream(self, server: socket.socket, client: socket.socket) -> None:
        buffered = b""
        committing = False
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                buffered += data
                out = b""
                for kind, message in _messages(buffered):
                    if kind == b"C" and self._claims(message[5:]):
                        committing = True
                    if kind == b"Z" and committing:
                        self.lost.set()
                        _cut(client, server)  # what came with it is lost too
                        return
                    out += message
                buffered = buffered[len(out):]
                client.sendall(out)
        _cut(client, server)

    def _claims(self, command_tag: bytes) -> bool:
        with self._lock:
            if self._tag is None or not command_tag.startswith(self._tag):
                return False
            if self._skip:
                self._skip -= 1
                return False
            self._tag = None
            return True


SSL_REQUEST = struct.pack("!I", 80877103)
GSSENC_REQUEST = struct.pack("!I", 80877104)


def _receive(s: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise OSError("closed")
        data += chunk
    return data


def _messages(buffered: bytes) -> Iterator[tuple[bytes, bytes]]:
    """The complete messages at the start of `buffered`: (type byte, whole message)."""
    at = 0
    while len(buffered) - at >= 5:
        (length,) = struct.unpack("!I", buffered[at + 1:at + 5])
        if len(buffered) - at < 1 + length:
            return
        yield buffered[at:at + 1], buffered[at:at + 1 + length]
        at += 1 + length


def _cut(*sockets: socket.socket) -> None:
    for s in sockets:
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            s.close()
