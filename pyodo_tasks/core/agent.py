"""One exec stream per app container: the change set and the build-and-restart in one exchange.

Why: an edit used to open two or three exec sessions (``tar``, maybe ``rm``, then
``assemble-and-restart``), each a new TLS websocket through the API server plus a new runc exec:
most of an edit's latency. The init image's supervisor binary has an ``agent`` mode
(``pyodo_tasks/runtime/supervisor/agent.go``, which documents the protocol) that pyodo
starts ONCE per container instance and keeps: each edit is then one request on the open stream
— deletions and the tar, cut into length-prefixed chunks so it is built while it is sent — and
one stream of events back (synced, build output, serving, done).

When the container has no agent (an init image from before it existed) :meth:`AgentSession.open`
raises :class:`AgentUnavailable` and the caller falls back to one exec per step.
"""

from __future__ import annotations

import json
import queue
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from pyodo_tasks.errors import ClusterError, WaitTimeout
from pyodo_tasks.runtime import contract

__all__ = [
    "AGENT_COMMAND",
    "AgentResult",
    "AgentSession",
    "AgentUnavailable",
    "Pipe",
    "PipeOpener",
    "prefetch",
]

#: The resident helper: the init image's supervisor in agent mode, through its own script name.
AGENT_COMMAND = tuple(contract.AGENT_COMMAND)
#: Largest chunk framed on the wire (one websocket frame each).
CHUNK = 512 * 1024
HELLO_TIMEOUT = 15.0


class AgentUnavailable(ClusterError):
    """The container cannot run the agent (old init image, exec refused): use per-step exec."""


class Pipe(Protocol):
    """A bidirectional byte stream to a process: stdin in, (channel, bytes) out.

    On the cluster, :meth:`Kube.open_pipe <pyodo_tasks.core.kube.Kube.open_pipe>` (its failures
    already :class:`ClusterError` from the boundary's one translation table); in tests, a
    subprocess's pipes.
    """

    def send(self, data: bytes) -> None:
        """Write to the process's stdin; ClusterError when the stream broke."""
        ...

    def recv(self, timeout: float) -> tuple[int, bytes] | None:
        """``(1|2, data)`` for stdout/stderr, ``(3, status)`` once it exited, None on timeout;
        raises EOFError when the stream ended, ClusterError when it broke."""
        ...

    def close(self) -> None: ...


class PipeOpener(Protocol):
    """What starts the agent: :meth:`Kube.open_pipe <pyodo_tasks.core.kube.Kube.open_pipe>`, or
    a component's connection that opens it without the client when it can."""

    def open_pipe(
        self, pod: str, argv: list[str], *, container: str, namespace: str | None = None
    ) -> Pipe: ...


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
    """One running agent. Not thread-safe: one request at a time, from one thread.

    Transport failures come from the pipe already translated (the Kube boundary's one table:
    :class:`ClusterError` with ``status``/``reason``/``retryable``); here they only gain what the
    agent was doing and its last stderr line.
    """

    def __init__(self, pipe: Pipe, *, hello_timeout: float = HELLO_TIMEOUT) -> None:
        self.pipe = pipe
        self._buffer = b""
        self._stderr = b""
        self._next_id = 0
        self.closed = False
        try:
            hello = self._next_event(time.monotonic() + hello_timeout)
        except (EOFError, ClusterError) as exc:
            self.close()
            raise self._failure(AgentUnavailable, "the agent did not start", exc) from exc
        if hello.get("event") != "hello":
            self.close()
            raise AgentUnavailable(f"the agent said {hello!r} instead of hello")
        self.version = int(hello.get("version", 0))

    @classmethod
    def open(
        cls,
        kube: PipeOpener,
        pod: str,
        container: str,
        *,
        namespace: str | None = None,
        command: Iterable[str] = AGENT_COMMAND,
    ) -> AgentSession:
        """Start the agent in ``pod``/``container``; :class:`AgentUnavailable` if it cannot."""
        try:
            pipe = kube.open_pipe(pod, list(command), container=container, namespace=namespace)
        except ClusterError as exc:
            raise AgentUnavailable(
                str(exc), status=exc.status, reason=exc.reason, retryable=exc.retryable
            ) from exc
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
        exchange = _Exchange(self._next_id, on_output, on_synced, on_serving)
        try:
            self.pipe.send(json.dumps(header).encode() + b"\n")
            if chunks is not None:
                self._send_chunks(chunks, deadline, timeout)
            while not exchange.take(self._next_event(deadline)):
                pass
        except WaitTimeout:
            self.close()
            raise
        except (EOFError, ClusterError) as exc:
            self.close()
            raise self._failure(ClusterError, "the agent's stream broke", exc) from exc
        return exchange.result()

    def _send_chunks(self, chunks: Iterable[bytes], deadline: float, timeout: float) -> None:
        """The tar as length-prefixed pieces (one frame each), then the empty end marker."""
        for chunk in chunks:
            for start in range(0, len(chunk), CHUNK):
                piece = chunk[start : start + CHUNK]
                self.pipe.send(struct.pack(">I", len(piece)) + piece)
            if time.monotonic() > deadline:
                raise WaitTimeout("the agent to read the change set", timeout)
        self.pipe.send(struct.pack(">I", 0))

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

    def _failure(
        self, kind: type[ClusterError], doing: str, exc: EOFError | ClusterError
    ) -> ClusterError:
        """``kind`` for a failure of the stream, keeping what the translation table said of it
        (an end of stream is worth a new agent: retryable)."""
        message = f"{doing}: {exc or type(exc).__name__}{self._stderr_tail()}"
        if isinstance(exc, ClusterError):
            return kind(message, status=exc.status, reason=exc.reason, retryable=exc.retryable)
        return kind(message, retryable=True)

    def _stderr_tail(self) -> str:
        text = self._stderr.decode("utf-8", "replace").strip()
        return f" ({text.splitlines()[-1]})" if text else ""

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.pipe.close()


class _Exchange:
    """The events of one request, handed to its callbacks and gathered into its result."""

    def __init__(
        self,
        request_id: int,
        on_output: Callable[[str], None] | None,
        on_synced: Callable[[], None] | None,
        on_serving: Callable[[float], None] | None,
    ) -> None:
        self.request_id = request_id
        self.on_output = on_output
        self.on_synced = on_synced
        self.on_serving = on_serving
        self.output: list[str] = []
        self.files = 0
        self.serving_at = 0.0
        self.done: dict[str, Any] = {}

    def take(self, event: dict[str, Any]) -> bool:
        """Handle one event; True once the request is done. Events of other requests (an
        earlier one abandoned) are skipped."""
        if event.get("id") != self.request_id:
            return False
        kind = event.get("event")
        if kind == "output":
            text = event.get("text", "")
            self.output.append(text)
            if self.on_output is not None:
                self.on_output(text)
        elif kind == "synced":
            self.files = int(event.get("files", 0))
            if self.on_synced is not None:
                self.on_synced()
        elif kind == "serving":
            self.serving_at = time.monotonic()
            if self.on_serving is not None:
                self.on_serving(self.serving_at)
        elif kind == "done":
            self.done = event
            return True
        return False

    def result(self) -> AgentResult:
        event = self.done
        return AgentResult(
            code=int(event.get("code", 1)),
            error=str(event.get("error", "")),
            files=self.files,
            sync_ms=float(event.get("syncMs", 0)),
            build_ms=float(event.get("buildMs", 0)),
            serving_ms=float(event.get("servingMs", 0)),
            total_ms=float(event.get("ms", 0)),
            output="\n".join(self.output),
            serving_at=self.serving_at or time.monotonic(),
        )


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
