"""Run a command in a container, shaped like ``subprocess.run``.

Bytes stay bytes (``binary=True``: without it the client silently corrupts non-UTF-8 output),
stdin is streamed in chunks and closed with the v5 protocol's channel close so commands that read
to EOF end; output can be streamed live to callbacks while it is also collected. Every call has a
deadline.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyodo_tasks.core.kube.errors import translated
from pyodo_tasks.errors import CommandError, WaitTimeout

if TYPE_CHECKING:
    from pyodo_tasks.core.kube.client import Kube

__all__ = ["ExecResult", "exec_run", "release", "returncode"]

STDOUT, STDERR, ERROR = 1, 2, 3
CHUNK = 256 * 1024
OutputCallback = Callable[[bytes], None]


@dataclass(frozen=True)
class ExecResult:
    """What a command in a container did: like ``subprocess.CompletedProcess``."""

    args: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    def check_returncode(self, context: str = "") -> ExecResult:
        if self.returncode != 0:
            output = (self.stdout + self.stderr).decode("utf-8", "replace")
            raise CommandError(list(self.args), self.returncode, output, context)
        return self


def release(websocket: Any) -> None:
    """Close a websocket *and* its socket.

    websocket-client's ``close()`` returns early when the peer already closed the connection,
    leaving the TLS socket open; ``shutdown()`` closes it whatever the state.
    """
    if websocket is None:
        return
    try:
        websocket.close(timeout=1)
    finally:
        websocket.shutdown()


def returncode(status_text: bytes | str) -> tuple[int, str]:
    """Exit code and message from the exec error channel's Status object."""
    if not status_text:
        return 0, ""
    try:
        status = json.loads(status_text)
    except ValueError:
        return 1, str(status_text)
    if status.get("status") == "Success":
        return 0, ""
    message = status.get("message", "")
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause.get("message", 1)), ""
    # The runtime could not start the command at all (e.g. executable not found): report it
    # the way a shell would, with the runtime's words on stderr.
    code = 127 if "not found" in message or "no such file" in message.lower() else 126
    return code, message


class _Conversation:
    """One exec websocket: feed stdin, collect stdout/stderr (and pass them on), read the code."""

    def __init__(
        self,
        ws: Any,
        on_stdout: OutputCallback | None,
        on_stderr: OutputCallback | None,
    ) -> None:
        self.ws = ws
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        self._sinks = ((STDOUT, self.out, on_stdout), (STDERR, self.err, on_stderr))

    def drain(self) -> None:
        for channel, sink, callback in self._sinks:
            data = self.ws.read_channel(channel)
            if data:
                sink.append(data)
                if callback is not None:
                    callback(data)

    def send(
        self, input: bytes | Iterable[bytes], deadline: float, what: str, timeout: float
    ) -> None:
        """Stream stdin in chunks, then close it (v5 protocol) so readers see EOF."""
        chunks: Iterable[bytes] = [input] if isinstance(input, bytes) else input
        for chunk in chunks:
            for start in range(0, len(chunk), CHUNK):
                if not self.ws.is_open():
                    break
                self.ws.write_stdin(chunk[start : start + CHUNK])
                self.ws.update(timeout=0)
                self.drain()
            if time.monotonic() > deadline:
                raise WaitTimeout(f"{what} to read its input", timeout)
        self.ws.close_channel(0)

    def finish(self, deadline: float, what: str, timeout: float) -> tuple[int, str]:
        """Read until the command ends; return its exit code and the runtime's message."""
        while self.ws.is_open():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                tail = b"".join(self.out + self.err)[-200:]
                raise WaitTimeout(f"{what} to finish", timeout, tail.decode("utf-8", "replace"))
            self.ws.update(timeout=min(remaining, 1.0))
            self.drain()
        self.drain()
        return returncode(self.ws.read_channel(ERROR))


def exec_run(
    kube: Kube,
    pod: str,
    args: Sequence[str],
    *,
    container: str | None = None,
    input: bytes | Iterable[bytes] | None = None,
    timeout: float = 60.0,
    check: bool = False,
    on_stdout: OutputCallback | None = None,
    on_stderr: OutputCallback | None = None,
    namespace: str | None = None,
) -> ExecResult:
    """Run ``args`` (a list, never a shell string) in ``pod``; return its exit code and output."""
    namespace = namespace or kube.namespace
    argv = tuple(args)
    deadline = time.monotonic() + timeout
    ws = kube.open_exec(
        pod,
        list(argv),
        namespace,
        container=container,
        stdin=input is not None,
        stdout=True,
        stderr=True,
        tty=False,
        binary=True,
    )
    talk = _Conversation(ws, on_stdout, on_stderr)
    try:
        with translated(f"exec {argv[0]} in pod/{pod}", kubeconfig=kube.target.kubeconfig):
            if input is not None:
                talk.send(input, deadline, f"{argv[0]} in pod/{pod}", timeout)
            code, message = talk.finish(deadline, f"{' '.join(argv)} in pod/{pod}", timeout)
    finally:
        release(ws.sock)
    if message:
        talk.err.append(message.encode())
    result = ExecResult(argv, code, b"".join(talk.out), b"".join(talk.err))
    if check:
        result.check_returncode(f"pod/{pod}")
    return result
