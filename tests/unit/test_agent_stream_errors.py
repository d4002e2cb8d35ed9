"""A broken agent stream leaves as the Kube boundary's ClusterError (status, reason, retryable).

The frames are read by :class:`~pyodo_tasks.core.kube.pipe.ExecPipe` (below the client, in the
boundary) and its failures go through the one translation table; the agent session only adds
what it was doing. Pure logic: a scripted websocket and a scripted pipe, no cluster.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest
from websocket import ABNF, WebSocketConnectionClosedException, WebSocketTimeoutException

from pyodo_tasks.core.agent import AgentSession, AgentUnavailable
from pyodo_tasks.core.kube.errors import translate
from pyodo_tasks.core.kube.pipe import SEND_TIMEOUT, ExecPipe
from pyodo_tasks.errors import ClusterError, WaitTimeout

HELLO = (1, json.dumps({"event": "hello", "version": 1}).encode() + b"\n")


class ScriptedPipe:
    """recv hands out ``script`` in order (an exception is raised); send can fail."""

    def __init__(self, script: Iterable[Any], send_error: BaseException | None = None) -> None:
        self.script = list(script)
        self.send_error = send_error
        self.sent: list[bytes] = []
        self.closed = False

    def send(self, data: bytes) -> None:
        if self.send_error is not None:
            raise self.send_error
        self.sent.append(data)

    def recv(self, timeout: float) -> tuple[int, bytes] | None:
        item = self.script.pop(0) if self.script else None
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        self.closed = True


def _event(**fields: Any) -> tuple[int, bytes]:
    return 1, json.dumps(fields).encode() + b"\n"


def test_a_refused_agent_start_keeps_the_status_and_says_unavailable() -> None:
    refused = ClusterError("exec supervisor in pod/p: 403 Forbidden", status=403, reason="no")
    pipe = ScriptedPipe([refused])
    with pytest.raises(AgentUnavailable) as caught:
        AgentSession(pipe)
    assert caught.value.status == 403 and caught.value.reason == "no"
    assert not caught.value.retryable
    assert "the agent did not start" in str(caught.value)
    assert pipe.closed


def test_a_stream_that_ends_before_hello_is_unavailable_with_the_agents_stderr() -> None:
    pipe = ScriptedPipe([(2, b"exec: agent: not found\n"), EOFError("stream closed")])
    with pytest.raises(AgentUnavailable, match=r"stream closed \(exec: agent: not found\)"):
        AgentSession(pipe)


def test_a_connection_lost_mid_request_is_a_retryable_cluster_error_and_closes() -> None:
    lost = translate(WebSocketConnectionClosedException("gone"), "writing to the stream")
    pipe = ScriptedPipe([HELLO])
    session = AgentSession(pipe)
    pipe.send_error = lost
    with pytest.raises(ClusterError) as caught:
        session.request(dest="/projects", build=True)
    assert type(caught.value) is ClusterError
    assert caught.value.retryable and caught.value.status is None
    assert str(caught.value).startswith("the agent's stream broke: writing to the stream")
    assert caught.value.__cause__ is lost
    assert session.closed and pipe.closed


def test_the_agent_exiting_mid_request_is_retryable() -> None:
    pipe = ScriptedPipe([HELLO, (3, b'{"status":"Failure"}')])
    session = AgentSession(pipe)
    with pytest.raises(ClusterError, match="the agent exited") as caught:
        session.request(dest="/projects")
    assert caught.value.retryable
    assert session.closed


def test_a_request_timeout_stays_a_wait_timeout() -> None:
    session = AgentSession(ScriptedPipe([HELLO]))
    with pytest.raises(WaitTimeout):
        session.request(dest="/projects", timeout=0.05)
    assert session.closed


def test_events_reach_the_callbacks_and_the_result() -> None:
    pipe = ScriptedPipe(
        [
            HELLO,
            _event(id=0, event="output", text="an older request's"),
            _event(id=1, event="synced", files=2),
            _event(id=1, event="output", text="building"),
            _event(id=1, event="serving"),
            _event(id=1, event="done", code=0, syncMs=3, buildMs=9, servingMs=7, ms=10),
        ]
    )
    seen: list[str] = []
    result = AgentSession(pipe).request(
        dest="/projects",
        chunks=[b"x" * 10],
        build=True,
        on_output=seen.append,
        on_synced=lambda: seen.append("synced"),
        on_serving=lambda at: seen.append("serving"),
    )
    assert seen == ["synced", "building", "serving"]
    assert (result.code, result.files, result.output) == (0, 2, "building")
    assert (result.sync_ms, result.build_ms, result.serving_ms, result.total_ms) == (3, 9, 7, 10)
    header = json.loads(pipe.sent[0])
    assert header["id"] == 1 and header["tar"] and header["build"]
    assert pipe.sent[1:] == [b"\x00\x00\x00\x0a" + b"x" * 10, b"\x00\x00\x00\x00"]


# -- ExecPipe: the websocket's failures through the one table -----------------------------------


class Frame:
    def __init__(self, data: bytes) -> None:
        self.data = data


class ScriptedSocket:
    """The parts of websocket-client's WebSocket that ExecPipe uses."""

    def __init__(self, frames: Iterable[Any] = (), send_error: BaseException | None = None):
        self.frames = list(frames)
        self.send_error = send_error
        self.sent: list[bytes] = []
        self.send_timeouts: list[float] = []
        self.timeout = 0.0
        self.closed = False

    def settimeout(self, timeout: float) -> None:
        self.timeout = timeout

    def send(self, data: bytes, opcode: int) -> None:
        if self.send_error is not None:
            raise self.send_error
        self.sent.append(data)
        self.send_timeouts.append(self.timeout)

    def recv_data_frame(self, control_frame: bool) -> tuple[int, Frame]:
        item = self.frames.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self, timeout: float) -> None:
        raise OSError("already broken")

    def shutdown(self) -> None:
        self.closed = True


class OpensScripted:
    def __init__(self, sock: ScriptedSocket) -> None:
        self.sock = sock
        self.opened: list[tuple[Any, ...]] = []

    def open_exec(self, pod: str, argv: list[str], namespace: str, **options: Any) -> Any:
        self.opened.append((pod, argv, namespace, options["container"]))
        return self


def _pipe(sock: ScriptedSocket) -> ExecPipe:
    return ExecPipe.open(OpensScripted(sock), "p", ["agent"], container="c", namespace="ns")  # type: ignore[arg-type]


def test_exec_pipe_frames_carry_channel_and_payload() -> None:
    sock = ScriptedSocket(
        [
            (ABNF.OPCODE_BINARY, Frame(b"\x01out")),
            (ABNF.OPCODE_BINARY, Frame(b"\xff\x00")),  # v5: stdin closed
            WebSocketTimeoutException("nothing yet"),
        ]
    )
    pipe = _pipe(sock)
    pipe.send(b"in")
    assert sock.sent == [b"\x00in"]
    assert pipe.recv(1.0) == (1, b"out")
    assert pipe.recv(1.0) is None
    assert pipe.recv(1.0) is None


def test_exec_pipe_writes_wait_their_own_bound_not_the_last_reads_poll() -> None:
    """One socket timeout serves reads and writes: a write after a 0.2 s poll must not give up
    after 0.2 s while the other end (an agent extracting 100k files) is slow to drain."""
    sock = ScriptedSocket([WebSocketTimeoutException("nothing yet")])
    pipe = _pipe(sock)
    assert pipe.recv(0.2) is None
    assert sock.timeout == 0.2
    pipe.send(b"tar")
    assert sock.send_timeouts == [SEND_TIMEOUT]


def test_exec_pipe_end_of_stream_is_eof() -> None:
    assert_eof = pytest.raises(EOFError, match="the exec stream of agent in pod/p closed")
    with assert_eof:
        _pipe(ScriptedSocket([(ABNF.OPCODE_CLOSE, Frame(b""))])).recv(1.0)
    with assert_eof:
        _pipe(ScriptedSocket([WebSocketConnectionClosedException("closed")])).recv(1.0)


def test_exec_pipe_failures_are_translated_cluster_errors() -> None:
    broken = _pipe(ScriptedSocket([ConnectionResetError(104, "Connection reset by peer")]))
    with pytest.raises(ClusterError, match="reading the exec stream of agent in pod/p") as read:
        broken.recv(1.0)
    assert read.value.retryable and read.value.status is None

    lost = _pipe(ScriptedSocket(send_error=WebSocketConnectionClosedException("gone")))
    with pytest.raises(ClusterError, match=r"writing to the exec stream.*connection lost") as sent:
        lost.send(b"x")
    assert sent.value.retryable


def test_exec_pipe_close_of_a_broken_stream_still_closes_the_socket() -> None:
    sock = ScriptedSocket()
    _pipe(sock).close()
    assert sock.closed
