"""A stdlib HTTP server on 127.0.0.1 that misbehaves on request, for fetch error tests.

The path picks the misbehaviour: ``/<how>/<key>`` where ``<how>`` is one of :data:`HOW` and
``<key>`` names bytes registered with :meth:`MisbehavingServer.body` (the garbage or the body to
send). Every answer is written on the raw socket, so the server can say what no well-behaved
``http.server`` handler would: nothing, half an answer, a status line that is not HTTP.
"""

from __future__ import annotations

import contextlib
import itertools
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["HOW", "MisbehavingServer", "misbehaving_server"]

#: What the server can do with a request.
HOW = (
    "close",  # close without a byte
    "garbage",  # send the body's bytes as the whole answer (no status line)
    "short",  # announce more bytes than it sends, then close
    "loop",  # redirect to itself for ever
    "onward",  # redirect to a new path each time (past any redirect limit)
    "ftp",  # redirect to ftp://
    "file",  # redirect to file:///etc/passwd
    "ok",  # 200 with the body
    "big",  # 200 with 2 MiB
    "trickle",  # 200 with a body sent one byte every 0.3 s
    "longline",  # a header line longer than http.client accepts
)


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock = self.request
        sock.settimeout(5)
        try:
            request = sock.recv(65536)
        except OSError:
            return
        line = request.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        path = parts[1] if len(parts) > 1 else "/"
        how, _, key = path.strip("/").partition("/")
        body = self.server.bodies.get(key, b"")
        with contextlib.suppress(OSError):  # the client gave up: what the test wanted to see
            self.answer(how, key, body)

    def answer(self, how: str, key: str, body: bytes) -> None:
        send = self.request.sendall
        if how == "close":
            return
        if how == "garbage":
            send(body)
        elif how == "short":
            send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + body[:10])
        elif how in ("loop", "onward", "ftp", "file"):
            target = {
                "loop": f"/loop/{key}",
                "onward": f"/onward/{key}x",
                "ftp": "ftp://127.0.0.1:9/devfile.yaml",
                "file": "file:///etc/passwd",
            }[how]
            send(f"HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n".encode())
        elif how == "big":
            send(b"HTTP/1.1 200 OK\r\nContent-Length: 2097152\r\n\r\n" + b"a: b\n" * 419431)
        elif how == "trickle":
            send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            for _ in range(1000):
                send(b"#")
                time.sleep(0.3)
        elif how == "longline":
            send(b"HTTP/1.1 200 OK\r\nX-Long: " + b"x" * 70000 + b"\r\n\r\n")
        else:
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            send(head + body)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    bodies: dict[str, bytes]


class MisbehavingServer:
    """The running server: :meth:`url` for a misbehaviour, :meth:`body` to register bytes."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self._keys = itertools.count()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def body(self, data: bytes) -> str:
        """Register ``data``; the key to put in the path."""
        key = str(next(self._keys))
        self._server.bodies[key] = data
        return key

    def url(self, how: str, data: bytes = b"", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/{how}/{self.body(data)}"


@contextmanager
def misbehaving_server() -> Iterator[MisbehavingServer]:
    """A :class:`MisbehavingServer` on an OS-chosen loopback port, shut down on exit."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.bodies = {}
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="misbehaving-http", daemon=True
    )
    thread.start()
    try:
        yield MisbehavingServer(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
