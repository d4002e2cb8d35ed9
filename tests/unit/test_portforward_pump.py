"""The forwarder's byte pump between a local connection and the pod's stream."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from pyodo_tasks.core.kube.portforward import _pump


@pytest.fixture
def pairs() -> Iterator[tuple[tuple[socket.socket, socket.socket], ...]]:
    """(pump's local end, the client) and (pump's remote end, the app in the pod)."""
    made = (socket.socketpair(), socket.socketpair())
    yield made
    for pair in made:
        for end in pair:
            end.close()


def _run_pump(local: socket.socket, remote: socket.socket) -> list[BaseException]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            _pump(local, remote, threading.Event())
        except BaseException as exc:  # what the forwarder's thread would have died of
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return errors if thread.join(timeout=10) is None and not thread.is_alive() else [TimeoutError()]


def test_pump_copies_bytes_both_ways_until_the_remote_closes(pairs):
    (local, client), (remote, pod) = pairs
    client.sendall(b"GET / HTTP/1.0\r\n\r\n")
    client.shutdown(socket.SHUT_WR)
    pod.sendall(b"HTTP/1.0 200 OK\r\n\r\nhi")
    pod.shutdown(socket.SHUT_WR)
    assert _run_pump(local, remote) == []
    assert pod.recv(100) == b"GET / HTTP/1.0\r\n\r\n"
    assert client.recv(100) == b"HTTP/1.0 200 OK\r\n\r\nhi"


def test_pump_ends_quietly_when_the_local_client_went_away_while_the_app_answers(pairs):
    # A poller that gave up (the app restarting) closes its socket; the app's answer then finds
    # a closed peer. That is the client's choice, not a failure (it used to be a BrokenPipeError
    # reported as "pyodo bug" by the dev loop).
    (local, client), (remote, pod) = pairs
    client.close()
    pod.sendall(b"x" * 1000)  # fits the socket buffer: sent before the pump runs
    pod.close()
    assert _run_pump(local, remote) == []
