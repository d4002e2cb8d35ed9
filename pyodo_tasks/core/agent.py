"""One exec stream per app container: the change set and the build-and-restart in one exchange.

Why: an edit used to open two or three exec sessions (``tar``, maybe ``rm``, then
``assemble-and-restart``), each a new TLS websocket through the API server plus a new runc exec:
most of an edit's latency. The init image's supervisor binary has an ``agent`` mode
(``pyodo_tasks/testbed/images/supervisor/agent.go``, which documents the protocol) that pyodo
starts ONCE per container instance and keeps: each edit is then one request on the open stream
— deletions and the tar, cut into length-prefixed chunks so it is built while it is sent — and
one stream of events back (synced, build output, serving, done).

When the container has no agent (an init image from before it existed) :meth:`AgentSession.open`
raises :class:`AgentUnavailable` and the caller falls back to one exec per step.
"""

from __future__ import annotations

import json
import logging
import queue
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from pyodo_tasks.core import pod as contract
from pyodo_tasks.errors import ClusterError, WaitTimeout

__all__ = [
    "AGENT_COMMAND",
    "AgentResult",
    "AgentSession",
    "AgentUnavailable",
    "ExecPipe",
    "prefetch",
]

log = logging.getLogger(__name__)

#: The resident helper: the init image's supervisor in agent mode, through its own script name.
AGENT_COMMAND = tuple(contract.AGENT_COMMAND)
#: Largest chunk framed on the wire (one websocket frame each).
CHUNK = 512 * 1024
HELLO_TIMEOUT = 15.0


class AgentUnavailable(ClusterError):
    """The container cannot run the agent (old init image, exec refused): use per-step exec."""


class Pipe(Protocol):
    """A bidirectional byte stream to a process: stdin in, (channel, bytes) out."""

    def send(self, data: bytes) -> None: ...

    def recv(self, timeout: float) -> tuple[int, bytes] | None:
        """``(1|2, data)`` for stdout/stderr, ``(3, status)`` once it exited, None on timeout;
        raises EOFError when the stream is closed."""
        ...

    def close(self) -> None: ...


@dataclass
class AgentResult:
    """What one request did. Times are milliseconds since the agent read the request."""

    code: int
    error: str
    files: int
    sync_ms: float
    build_ms: float
    serving_ms: float
    total_ms: float
    output: str
    #: ``time.monotonic()`` here when "serving" arrived (or "done", when it never did).
    serving_at: float


class AgentSession:
    """One running agent. Not thread-safe: one request at a time, from one thread."""

    def __init__(self, pipe: Pipe, *, hello_timeout: float = HELLO_TIMEOUT) -> None:
        self.pipe = pipe
        self._buffer = b""
        self._stderr = b""
        self._next_id = 0
        self.closed = False
        try:
            hello = self._next_event(time.monotonic() + hello_timeout)
        except (EOFError, WaitTimeout, OSError) as exc:
            self.close()
            raise AgentUnavailable(f"the agent did not start: {exc}{self._stderr_tail()}") from exc
        if hello.get("event") != "hello":
            self.close()
            raise AgentUnavailable(f"the agent said {hello!r} instead of hello")
        self.version = int(hello.get("version", 0))

    @classmethod
    def open(
        cls,
        kube: Any,
        pod: str,
        container: str,
        *,
        namespace: str | None = None,
        command: Iterable[str] = AGENT_COMMAND,
    ) -> AgentSession:
        """Start the agent in ``pod``/``container``; :class:`AgentUnavailable` if it cannot."""
        try:
            pipe = ExecPipe(kube, pod, list(command), container, namespace or kube.namespace)
        except ClusterError as exc:
            raise AgentUnavailable(str(exc)) from exc
        return cls(pipe)

    def request(
        self,
        *,
        dest: str,
        delete: Iterable[str] = (),
        chunks: Iterable[bytes] | None = None,
        mkdir: bool = False,
        build: bool = False,
        ports: Iterable[int] = (),
        on_output: Callable[[str], None] | None = None,
        on_serving: Callable[[float], None] | None = None,
        on_synced: Callable[[], None] | None = None,
        timeout: float = 900.0,
    ) -> AgentResult:
        """Send one change set (and ask for the build); wait for its end.

        A broken stream raises :class:`ClusterError` and closes the session (what reached the
        container is unknown: the caller must not commit its index).
        """
        if self.closed:
            raise ClusterError("the agent session is closed")
        self._next_id += 1
        header = {
            "id": self._next_id,
            "dest": dest,
            "mkdir": mkdir,
            "delete": list(delete),
            "tar": chunks is not None,
            "build": build,
            "ports": list(ports),
        }
        deadline = time.monotonic() + timeout
        output: list[str] = []
        serving_at = 0.0
        files = 0
        try:
            self.pipe.send(json.dumps(header).encode() + b"\n")
            if chunks is not None:
                for chunk in chunks:
                    for start in range(0, len(chunk), CHUNK):
                        piece = chunk[start : start + CHUNK]
                        self.pipe.send(struct.pack(">I", len(piece)) + piece)
                    if time.monotonic() > deadline:
                        raise WaitTimeout("the agent to read the change set", timeout)
                self.pipe.send(struct.pack(">I", 0))
            while True:
                event = self._next_event(deadline)
                if event.get("id") != self._next_id:
                    continue
                kind = event.get("event")
                if kind == "output":
                    output.append(event.get("text", ""))
                    if on_output is not None:
                        on_output(event.get("text", ""))
                elif kind == "synced":
                    files = int(event.get("files", 0))
                    if on_synced is not None:
                        on_synced()
                elif kind == "serving":
                    serving_at = time.monotonic()
                    if on_serving is not None:
                        on_serving(serving_at)
                elif kind == "done":
                    break
        except (EOFError, OSError, WaitTimeout, ClusterError) as exc:
            self.close()
            if isinstance(exc, WaitTimeout):
                raise
            raise ClusterError(
                f"the agent's stream broke: {exc or type(exc).__name__}{self._stderr_tail()}"
            ) from exc
        return AgentResult(
            code=int(event.get("code", 1)),
            error=str(event.get("error", "")),
            files=files,
            sync_ms=float(event.get("syncMs", 0)),
            build_ms=float(event.get("buildMs", 0)),
            serving_ms=float(event.get("servingMs", 0)),
            total_ms=float(event.get("ms", 0)),
            output="\n".join(output),
            serving_at=serving_at or time.monotonic(),
        )

    def _next_event(self, deadline: float) -> dict[str, Any]:
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout("the agent to answer", 0)
            got = self.pipe.recv(min(remaining, 1.0))
            if got is None:
                continue
            channel, data = got
            if channel == 1:
                self._buffer += data
            elif channel == 2:
                self._stderr = (self._stderr + data)[-2000:]
            elif channel == 3:
                raise EOFError(f"the agent exited: {data.decode('utf-8', 'replace')[:300]}")
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError as exc:
            raise ClusterError(f"the agent sent {line[:200]!r}") from exc

    def _stderr_tail(self) -> str:
        text = self._stderr.decode("utf-8", "replace").strip()
        return f" ({text.splitlines()[-1]})" if text else ""

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.pipe.close()


class ExecPipe:
    """An exec websocket read frame by frame from its socket.

    Not the client's ``WSClient.update``/``read_channel``: that keeps every byte of stdout in a
    growing buffer (a leak for a stream meant to live all day) and waits on the raw socket with
    ``poll``, which misses a frame already decrypted into the TLS buffer until the next one
    comes (or the timeout). Reading whole frames from ``ws.sock`` with a socket timeout has
    neither problem and reads several hundred MiB/s (shared FINDINGS).
    """

    def __init__(
        self, kube: Any, pod: str, argv: list[str], container: str, namespace: str
    ) -> None:
        # Opened through the Kube boundary (its translation table turns failures into
        # ClusterError); the frames are then read here, below the client.
        self.client = kube.open_exec(
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
        self.ws = self.client.sock
        self.v5 = getattr(self.client, "subprotocol", "") == "v5.channel.k8s.io"
        self._lock = threading.Lock()

    def send(self, data: bytes) -> None:
        from websocket import ABNF

        with self._lock:
            self.ws.send(b"\x00" + data, opcode=ABNF.OPCODE_BINARY)

    def recv(self, timeout: float) -> tuple[int, bytes] | None:
        from websocket import ABNF, WebSocketConnectionClosedException, WebSocketTimeoutException

        self.ws.settimeout(max(timeout, 0.001))
        try:
            opcode, frame = self.ws.recv_data_frame(True)
        except (TimeoutError, WebSocketTimeoutException, ssl.SSLWantReadError):
            return None
        except WebSocketConnectionClosedException as exc:
            raise EOFError("the exec stream closed") from exc
        if opcode == ABNF.OPCODE_CLOSE:
            raise EOFError("the exec stream closed")
        data = frame.data
        if not data or opcode not in (ABNF.OPCODE_BINARY, ABNF.OPCODE_TEXT):
            return None
        channel, payload = data[0], bytes(data[1:])
        if channel == 255:  # v5: a channel was closed
            return None
        return channel, payload

    def close(self) -> None:
        from pyodo_tasks.core.kube.execs import release

        try:
            release(self.ws)
        except Exception as exc:  # closing a broken socket: nothing left to do
            log.debug("closing the agent's stream: %s", exc)


def prefetch(chunks: Iterable[bytes], depth: int = 4) -> Iterator[bytes]:
    """Produce ``chunks`` in a thread, ``depth`` ahead of the consumer.

    Building the tar (stat, read, hash) then overlaps with masking and sending it: file reads,
    hashing of large buffers and socket writes release the GIL. An exception in the producer is
    raised in the consumer; closing the consumer early stops the producer.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        q.put(chunk, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=produce, name="pyodo-tar", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(5)
