"""A local listening port forwarded to a pod port, one websocket per accepted connection.

The client's port-forward gives a socketpair, not a listening port, and carries one TCP stream
per websocket; so each connection accepted here opens its own forward, and the pod is looked up
again for each one, which keeps the forward working across a pod replaced by a rollout. The
client does not propagate half-close: after the local side stops sending, the reply is still
read until the pod side closes.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
from collections.abc import Callable
from typing import Any, Protocol

from pyodo_tasks.core.kube.execs import release
from pyodo_tasks.core.wait import wait_for
from pyodo_tasks.errors import PyodoError, WaitTimeout

__all__ = ["PortForwarder"]

log = logging.getLogger(__name__)

IDLE_AFTER_HALF_CLOSE = 30.0


class Forwards(Protocol):
    """What opens the forwards: a :class:`~pyodo_tasks.core.kube.Kube`, or a component's
    :class:`~pyodo_tasks.core.connection.Connection` (which needs no client for it)."""

    namespace: str

    def open_portforward(self, pod: str, port: int, namespace: str | None = None) -> Any: ...


class PortForwarder:
    """Forward ``127.0.0.1:<local_port>`` to ``remote_port`` of the pod ``pod()`` names."""

    def __init__(
        self,
        kube: Forwards,
        pod: Callable[[], str],
        remote_port: int,
        *,
        local_port: int = 0,
        host: str = "127.0.0.1",
        namespace: str | None = None,
    ) -> None:
        self.kube = kube
        self.pod = pod
        self.remote_port = remote_port
        self.namespace = namespace or kube.namespace
        self._listener = socket.create_server((host, local_port))
        # Set here, not in the thread: stop() may close the listener before the thread runs.
        self._listener.settimeout(0.5)
        self.host, self.local_port = self._listener.getsockname()[:2]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.local_port}"

    def start(self) -> PortForwarder:
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"pyodo-forward-{self.local_port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> PortForwarder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            forward = self.kube.open_portforward(self.pod(), self.remote_port, self.namespace)
        except PyodoError as exc:
            # The pod may be gone or not ready yet: drop this connection, keep listening.
            log.warning("port-forward to %s failed: %s", self.remote_port, exc)
            conn.close()
            return
        remote = forward.socket(self.remote_port)
        try:
            _pump(conn, remote, self._stop)
        finally:
            conn.close()
            forward.close()
            # The client's proxy thread closes the websocket once both ends are closed; give it
            # a moment, then release the socket whatever state the close left it in.
            with contextlib.suppress(WaitTimeout):
                wait_for(
                    lambda: (None, "connected") if forward.connected else (True, "closed"),
                    "the port-forward websocket to close",
                    2.0,
                    interval=0.02,
                )
            release(forward.websocket)


def _pump(local: socket.socket, remote: socket.socket, stop: threading.Event) -> None:
    selector = selectors.DefaultSelector()
    selector.register(local, selectors.EVENT_READ, remote)
    selector.register(remote, selectors.EVENT_READ, local)
    local_open = True
    try:
        while not stop.is_set():
            ready = selector.select(timeout=IDLE_AFTER_HALF_CLOSE if not local_open else 1.0)
            if not ready:
                if not local_open:
                    return
                continue
            for key, _ in ready:
                source = key.fileobj
                try:
                    data = source.recv(65536)  # type: ignore[union-attr]
                    if data:
                        key.data.sendall(data)
                except OSError:  # either end reset or closed under us (a client gave up)
                    return
                if not data:
                    if source is remote:
                        return
                    local_open = False
                    selector.unregister(local)
    finally:
        selector.close()
