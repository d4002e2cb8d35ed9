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
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream
from websocket import WebSocketException

from pyodo_tasks.core.kube.client import Kube, api_error
from pyodo_tasks.errors import ClusterError, CommandError, WaitTimeout

__all__ = ["ExecResult", "exec_run", "release"]

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


def _returncode(status_text: bytes | str) -> tuple[int, str]:
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
    try:
        ws = stream(
            kube.stream_core.connect_get_namespaced_pod_exec,
            pod,
            namespace,
            command=list(argv),
            container=container,
            stdin=input is not None,
            stdout=True,
            stderr=True,
            tty=False,
            binary=True,
            _preload_content=False,
        )
    except ApiException as exc:
        raise api_error(exc, f"exec {argv[0]} in pod/{pod}") from exc
    except (OSError, AttributeError) as exc:  # the client fails oddly when nothing listens
        raise ClusterError(f"exec {argv[0]} in pod/{pod}: cannot connect: {exc}") from exc
    out: list[bytes] = []
    err: list[bytes] = []

    def drain() -> None:
        for channel, sink, callback in ((STDOUT, out, on_stdout), (STDERR, err, on_stderr)):
            data = ws.read_channel(channel)
            if data:
                sink.append(data)
                if callback is not None:
                    callback(data)

    try:
        if input is not None:
            chunks: Iterable[bytes] = [input] if isinstance(input, bytes) else input
            for chunk in chunks:
                for start in range(0, len(chunk), CHUNK):
                    if not ws.is_open():
                        break
                    ws.write_stdin(chunk[start : start + CHUNK])
                    ws.update(timeout=0)
                    drain()
                if time.monotonic() > deadline:
                    raise WaitTimeout(f"{argv[0]} in pod/{pod} to read its input", timeout)
            ws.close_channel(0)
        while ws.is_open():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(
                    f"{' '.join(argv)} in pod/{pod} to finish",
                    timeout,
                    (b"".join(out + err)[-200:]).decode("utf-8", "replace"),
                )
            ws.update(timeout=min(remaining, 1.0))
            drain()
        drain()
        code, message = _returncode(ws.read_channel(ERROR))
    except (OSError, WebSocketException) as exc:
        raise ClusterError(f"exec {argv[0]} in pod/{pod}: connection lost: {exc}") from exc
    finally:
        release(ws.sock)
    if message:
        err.append(message.encode())
    result = ExecResult(argv, code, b"".join(out), b"".join(err))
    if check:
        result.check_returncode(f"pod/{pod}")
    return result
