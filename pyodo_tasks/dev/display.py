"""Showing the loop's status to the developer: a live panel on a terminal, plain lines elsewhere.

The client renders what it reads from the status ConfigMap, so what the terminal shows is what
the cluster records. Command output (sync summaries, the build log) goes through :meth:`line`
and scrolls above the live panel. When stdout is not a terminal (CI logs, a test's pipe) every
change of state is one plain, greppable line and nothing is redrawn.
"""

from __future__ import annotations

import sys
import threading
from typing import Protocol, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from pyodo_tasks.dev.state import State, Status

__all__ = ["Display", "PlainDisplay", "RichDisplay", "make_display", "timing"]

_STYLES = {
    State.WAIT_DEPLOYMENT: "yellow",
    State.POD_RUNNING: "yellow",
    State.FILES_SYNCED: "cyan",
    State.BUILD_COMMAND_EXECUTED: "cyan",
    State.RUN_COMMAND_RUNNING: "green",
    State.ERROR: "bold red",
}
#: Lines of a multi-line message (a build log tail) shown in the live panel.
PANEL_MESSAGE_LINES = 8


class Display(Protocol):
    def line(self, text: str) -> None: ...

    def status(self, status: Status) -> None: ...

    def close(self) -> None: ...


class PlainDisplay:
    """One line per change of state, message or ports; nothing when a write changed nothing."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()
        self._last: tuple[object, ...] | None = None
        self._ports: object = None

    def line(self, text: str) -> None:
        with self._lock:
            print(text, file=self.stream, flush=True)

    def status(self, status: Status) -> None:
        key = (status.state, status.message, status.pod)
        with self._lock:
            if key != self._last:
                self._last = key
                head, *rest = (status.message or "").splitlines() or [""]
                text = f"[dev] {status.state.value}"
                if status.pod:
                    text += f" pod/{status.pod}"
                if head:
                    text += f": {head}"
                text += timing(status)
                lines = [text, *(f"      {r}" for r in rest)]
                print("\n".join(lines), file=self.stream, flush=True)
            if status.ports and status.ports != self._ports:
                self._ports = status.ports
                for port in status.ports:
                    print(
                        f"[dev] Forwarding {port.name}: {port.url} -> "
                        f"{port.container}:{port.container_port}",
                        file=self.stream,
                        flush=True,
                    )

    def close(self) -> None:
        pass


class RichDisplay:
    """A compact live panel (state, pod, ports, last sync) under the scrolling output."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self._lock = threading.Lock()
        self._last_state: State | None = None
        self._live = Live(
            self._render(None), console=self.console, auto_refresh=False, transient=False
        )
        self._live.start()

    def line(self, text: str) -> None:
        with self._lock:
            self.console.print(Text(text), highlight=False)

    def status(self, status: Status) -> None:
        with self._lock:
            if status.state is State.ERROR and self._last_state is not State.ERROR:
                self.console.print(Text(f"Error: {status.message}", style="red"))
            self._last_state = status.state
            self._live.update(self._render(status), refresh=True)

    def close(self) -> None:
        with self._lock:
            self._live.stop()

    @staticmethod
    def _render(status: Status | None) -> Table:
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        if status is None:
            table.add_row("dev", Text("starting…", style="yellow"))
            return table
        state = Text(status.state.value, style=_STYLES.get(status.state, ""))
        state.append(timing(status), style="dim")
        table.add_row("state", state)
        if status.serving_ms:
            table.add_row("served", f"last save -> serving {status.serving_ms} ms")
        if status.steps:
            table.add_row("steps", Text(status.steps, style="dim"))
        if status.message:
            lines = status.message.splitlines()[-PANEL_MESSAGE_LINES:]
            table.add_row("", Text("\n".join(lines)))
        if status.pod:
            table.add_row("pod", status.pod)
        for port in status.ports:
            table.add_row(
                "forward", f"{port.name}: {port.url} -> {port.container}:{port.container_port}"
            )
        if status.last_sync:
            table.add_row("sync", status.last_sync)
        return table


def timing(status: Status) -> str:
    """`` (+120 ms)`` for a step under way; for RunCommandRunning, the last save->serving and
    the reconcile's duration. Every state change carries its time."""
    if status.state is State.RUN_COMMAND_RUNNING:
        parts = []
        if status.serving_ms:
            parts.append(f"save->serving {status.serving_ms} ms")
        if status.duration_ms:
            parts.append(f"reconciled in {status.duration_ms} ms")
        if not parts and status.elapsed_ms:
            parts.append(f"+{status.elapsed_ms} ms")
        return f" ({'; '.join(parts)})" if parts else ""
    return f" (+{status.elapsed_ms} ms)" if status.elapsed_ms else ""


def make_display(stream: TextIO | None = None) -> Display:
    """The live panel when ``stream`` (default stdout) is a terminal, plain lines otherwise."""
    stream = stream or sys.stdout
    if stream.isatty():
        return RichDisplay(Console(file=stream))
    return PlainDisplay(stream)
