"""Commands run in the component's containers with their output streamed live, line by line.

``assemble-and-restart`` and ``events.postStart`` take long and their output is what the user
watches; chunks from the exec stream are cut into whole lines for the ``say`` callback while the
whole output is also kept for the :class:`~pyodo_tasks.errors.CommandError` of a failed run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pyodo_tasks.errors import CommandError

if TYPE_CHECKING:
    from pyodo_tasks.core.kube import ExecResult, Kube

__all__ = ["LineSplitter", "Output", "quiet", "run_streamed"]

Output = Callable[[str], None]


def quiet(_line: str) -> None:
    """An :data:`Output` that drops every line."""


class LineSplitter:
    """Turn output chunks into whole lines for the live build log."""

    def __init__(self, say: Output) -> None:
        self.say = say
        self.buffer = b""

    def feed(self, data: bytes) -> None:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            self.say(line.decode("utf-8", "replace"))

    def flush(self) -> None:
        if self.buffer:
            self.say(self.buffer.decode("utf-8", "replace"))
            self.buffer = b""


def run_streamed(
    kube: Kube,
    pod: str,
    argv: Sequence[str],
    *,
    container: str,
    timeout: float,
    say: Output,
    shown_as: Sequence[str] | None = None,
    context: str = "",
) -> ExecResult:
    """Run ``argv`` in ``container``, streaming its lines to ``say``; raise on non-zero exit.

    ``shown_as`` is the command as the error names it (default ``argv``).
    """
    lines = LineSplitter(say)
    result = kube.exec(
        pod,
        argv,
        container=container,
        timeout=timeout,
        on_stdout=lines.feed,
        on_stderr=lines.feed,
    )
    lines.flush()
    if result.returncode != 0:
        raise CommandError(
            list(shown_as if shown_as is not None else argv),
            result.returncode,
            (result.stdout + result.stderr).decode("utf-8", "replace"),
            context,
        )
    return result
