"""A long-lived exec stream to one process, read frame by frame: the resident agent's transport.

Not the client's ``WSClient.update``/``read_channel`` (which :mod:`.execs` uses for commands that
end): that keeps every byte of stdout in a growing buffer (a leak for a stream meant to live all
day) and waits on the raw socket with ``poll``, which misses a frame already decrypted into the
TLS buffer until the next one comes (or the timeout). Reading whole frames from ``ws.sock`` with a
socket timeout has neither problem and reads several hundred MiB/s (shared FINDINGS).

What the stream can do wrong leaves it the way every other cluster failure leaves :class:`Kube`:
through the one table in :mod:`.errors`, as a :class:`~pyodo_tasks.errors.ClusterError` with
``status``/``reason``/``retryable``. The one exception is the stream's end (the server closed
it): :class:`EOFError`, as for a file, because for the process at the other end it is not a
failure of the cluster.
"""

from __future__ import annotations

import logging
import ssl
import threading
from typing import TYPE_CHECKING, Any

from websocket import ABNF, WebSocketConnectionClosedException, WebSocketTimeoutException

from pyodo_tasks.core.kube.errors import translated
from pyodo_tasks.core.kube.execs import release

if TYPE_CHECKING:
    from pyodo_tasks.core.kube.client import Kube

__all__ = ["ExecPipe", "describe"]

log = logging.getLogger(__name__)

#: The v5 protocol's "channel closed" control channel.
_CLOSE_CHANNEL = 255
#: Longest one write of stdin may wait for the other end to take it. The socket's timeout is
#: one setting for reads and writes: a write used to inherit the last read's poll (at most
#: 1 s), so a first sync of 100k files broke ("The write operation timed out") whenever the
#: agent, busy extracting on a loaded machine, did not drain the stream for a second.
SEND_TIMEOUT = 120.0


def describe(pod: str, argv: list[str]) -> str:
    """How errors name the stream: ``the exec stream of <argv[0]> in pod/<pod>``."""
    return f"the exec stream of {argv[0]} in pod/{pod}"


class ExecPipe:
    """stdin in, ``(channel, bytes)`` out, on one exec websocket (see the module docstring).

    ``send`` may be called from another thread than ``recv``; sends are serialised.
    """

    def __init__(self, ws: Any, doing: str) -> None:
        #: The open websocket (websocket-client's ``WebSocket``) of the exec.
        self.ws = ws
        self.doing = doing
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls, kube: Kube, pod: str, argv: list[str], *, container: str, namespace: str
    ) -> ExecPipe:
        """Start ``argv`` through the client's exec (see :meth:`Kube.open_pipe`)."""
        client = kube.open_exec(
            pod,
            argv,
            namespace,
            container=container,
            stdin=True,
            stdout=True,
            stderr=True,
            tty=False,
            binary=True,
        )
        return cls(client.sock, describe(pod, argv))

    def send(self, data: bytes) -> None:
        """Write ``data`` to the process's stdin; ClusterError when the stream broke."""
        with self._lock, translated(f"writing to {self.doing}"):
            self.ws.settimeout(SEND_TIMEOUT)
            self.ws.send(b"\x00" + data, opcode=ABNF.OPCODE_BINARY)

    def recv(self, timeout: float) -> tuple[int, bytes] | None:
        """``(1|2, data)`` for stdout/stderr, ``(3, status)`` once the process exited, None
        when nothing came within ``timeout``; EOFError when the stream ended, ClusterError when
        it broke."""
        self.ws.settimeout(max(timeout, 0.001))
        with translated(f"reading {self.doing}"):
            try:
                opcode, frame = self.ws.recv_data_frame(True)
            except (TimeoutError, WebSocketTimeoutException, ssl.SSLWantReadError):
                return None
            except WebSocketConnectionClosedException as exc:
                raise EOFError(f"{self.doing} closed") from exc
        if opcode == ABNF.OPCODE_CLOSE:
            raise EOFError(f"{self.doing} closed")
        data = frame.data
        if not data or opcode not in (ABNF.OPCODE_BINARY, ABNF.OPCODE_TEXT):
            return None
        channel, payload = data[0], bytes(data[1:])
        if channel == _CLOSE_CHANNEL:
            return None
        return channel, payload

    def close(self) -> None:
        """Close the websocket and its socket; a stream already broken is closed quietly."""
        try:
            release(self.ws)
        except Exception as exc:  # closing a broken socket: nothing left to do
            log.debug("closing %s: %s", self.doing, exc)
