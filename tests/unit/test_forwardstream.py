"""The port-forward's proxy thread when the connection under it drops (the API server went)."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator

import pytest

from pyodo_tasks.core.kube.forwardstream import QuietPortForward


class DroppedWebsocket:
    """A websocket whose connection to the API server ends in a TLS EOF on the next read."""

    def __init__(self) -> None:
        self._ours, self._theirs = socket.socketpair()
        self._theirs.send(b"x")  # readable: the proxy thread reads, and the read fails
        self.connected = True
        self.closed = False

    def fileno(self) -> int:
        return self._ours.fileno()

    def recv_data_frame(self, control_frame: bool) -> tuple[int, object]:
        raise ssl.SSLEOFError(8, "EOF occurred in violation of protocol")

    def close(self) -> None:
        self.connected = False
        self.closed = True
        self._ours.close()
        self._theirs.close()


@pytest.fixture
def thread_errors() -> Iterator[list[BaseException | None]]:
    """What reached threading.excepthook (Python prints those as tracebacks)."""
    seen: list[BaseException | None] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: seen.append(args.exc_value)
    yield seen
    threading.excepthook = previous


def test_a_dropped_connection_ends_the_proxy_thread_quietly_with_eof_on_the_forwarded_end(
    thread_errors: list[BaseException | None],
) -> None:
    websocket = DroppedWebsocket()
    forward = QuietPortForward(websocket, [3000])
    local = forward.socket(3000)
    local.settimeout(5)
    assert local.recv(1) == b"", "the forwarded connection sees EOF"
    for thread in threading.enumerate():
        if thread.name.startswith("Kubernetes port forward proxy"):
            thread.join(5)
    assert thread_errors == []
    assert websocket.closed
    local.close()
