"""One TCP stream to a pod's port over a port-forward websocket, opened without the client.

What :class:`~pyodo_tasks.core.kube.portforward.PortForwarder` pumps for each accepted
connection, shaped like the client's ``PortForward`` (``socket(port)``, ``connected``,
``websocket``, ``close()``), so a process that never loaded the Kubernetes client (an xdist
worker attached to a shared deployment) reaches the app without importing it (half a second of
CPU per process). The websocket is opened as :mod:`.quick` opens the exec one (the kubeconfig's
certificates or token; None when it cannot, and the caller uses the client).

The protocol (``v4.channel.k8s.io``, one port): channel 0 carries the data, channel 1 the
errors, and the server's first frame on each starts with the port (two bytes, little-endian).
As with the client, a half-close is not propagated.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading

from pyodo_tasks.core.kube.pipe import ExecPipe
from pyodo_tasks.core.kube.quick import open_websocket
from pyodo_tasks.core.kube.target import ResolvedTarget
from pyodo_tasks.errors import PyodoError

__all__ = ["QuickForward", "quick_forward"]

log = logging.getLogger(__name__)

_PROTOCOL = "v4.channel.k8s.io"
DATA, ERROR = 0, 1


def quick_forward(
    target: ResolvedTarget, pod: str, port: int, timeout: float = 15.0
) -> QuickForward | None:
    """A stream to ``port`` of ``pod`` in the target's namespace, or None (use the client)."""
    ws = open_websocket(target, pod, f"portforward?ports={port}", _PROTOCOL, timeout)
    if ws is None:
        return None
    return QuickForward(ExecPipe(ws, f"the port-forward to pod/{pod}:{port}"))


class QuickForward:
    """The websocket's data channel as a local socket (one end of a socket pair), moved by
    two threads: websocket to socket, socket to websocket."""

    def __init__(self, pipe: ExecPipe) -> None:
        self._pipe = pipe
        self.websocket = pipe.ws
        self._outer, self._inner = socket.socketpair()
        self._stop = threading.Event()
        for move in (self._down, self._up):
            threading.Thread(target=move, name="pyodo-quick-forward", daemon=True).start()

    def socket(self, port: int) -> socket.socket:
        """The local end of the stream (``port`` is the one it was opened for)."""
        return self._outer

    @property
    def connected(self) -> bool:
        return bool(self.websocket.connected)

    def _down(self) -> None:
        """Websocket to socket, the port prefix of each channel's first frame dropped."""
        prefixed = {DATA: False, ERROR: False}
        try:
            while not self._stop.is_set():
                got = self._pipe.recv(1.0)
                if got is None or got[0] not in prefixed:
                    continue
                channel, data = got
                if not prefixed[channel]:
                    prefixed[channel], data = True, data[2:]
                if channel == ERROR and data:
                    log.warning("%s: %s", self._pipe.doing, data.decode("utf-8", "replace"))
                    return
                if data:
                    self._inner.sendall(data)
        except (EOFError, PyodoError, OSError) as exc:
            log.debug("%s ended: %s", self._pipe.doing, exc)
        finally:
            self._end()

    def _up(self) -> None:
        """Socket to websocket, until the local side closes (its half-close is not sent)."""
        selector = selectors.DefaultSelector()
        selector.register(self._inner, selectors.EVENT_READ)
        try:
            while not self._stop.is_set():
                if not selector.select(timeout=1.0):
                    continue
                data = self._inner.recv(65536)
                if not data:
                    return
                self._pipe.send(data)
        except (PyodoError, OSError) as exc:
            log.debug("%s ended: %s", self._pipe.doing, exc)
        finally:
            selector.close()

    def _end(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._inner.shutdown(socket.SHUT_RDWR)
        self._pipe.close()

    def close(self) -> None:
        """Stop both directions, close the websocket and both ends of the socket pair."""
        self._end()
        for end in (self._inner, self._outer):
            with contextlib.suppress(OSError):
                end.close()
