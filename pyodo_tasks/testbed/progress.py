"""Progress of the test bed's long work: the Kubernetes build, image builds, imports, daemons.

Why: a first ``up`` can take twenty minutes, and a person (or a CI log) that sees nothing for
that long assumes it hangs. ``say`` prints one line. ``phase`` marks a step that can take long:

* on a terminal, a rich spinner shows every running phase live, with its elapsed time, the
  expected total (e.g. from the last measured build on this machine) and its latest detail;
* otherwise (a pipe, a log file, CI) it prints a start line, a heartbeat line with the same
  status whenever nothing was printed for ``heartbeat`` seconds, and an end line with the time
  taken, so the output is never silent for longer than that.

Thread-safe: image builds report from worker threads.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live
    from rich.spinner import Spinner

__all__ = ["HEARTBEAT", "Phase", "Progress", "as_progress", "duration"]

#: Seconds of silence after which a running phase prints its status again (plain output).
HEARTBEAT = 8.0


def duration(seconds: float) -> str:
    """``0.4s``, ``17s``, ``3m05s``, ``1h02m``: short enough for a status line."""
    if seconds < 9.95:
        return f"{max(seconds, 0.0):.1f}s"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


class Phase:
    """One running step; ``update(detail)`` sets the detail its status line shows."""

    def __init__(
        self, what: str, expected: float | None, basis: str, clock: Callable[[], float]
    ) -> None:
        self.what = what
        self.expected = expected
        self.basis = basis
        self.detail = ""
        self._clock = clock
        self.started = clock()
        #: Phases nest within a thread (an image build around its debootstrap); threads run
        #: side by side (image builds in parallel).
        self.thread = threading.get_ident()

    @property
    def elapsed(self) -> float:
        return self._clock() - self.started

    def update(self, detail: str) -> None:
        self.detail = detail

    def status(self) -> str:
        """``what: 3m12s of ~21m00s - detail`` (the start line says what ``~21m00s`` is from)."""
        text = f"{self.what}: {duration(self.elapsed)}"
        if self.expected:
            text += f" of ~{duration(self.expected)}"
        if self.detail:
            text += f" - {self.detail}"
        return text


class Progress:
    """Reports progress to ``stream`` (stderr), or to ``sink`` (one call per line) if given.

    ``tty`` forces the terminal (rich) or plain mode; by default it follows ``stream.isatty()``.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        tty: bool | None = None,
        heartbeat: float = HEARTBEAT,
        sink: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream or sys.stderr
        self._sink = sink
        self._tty = (
            (sink is None and _isatty(self._stream)) if tty is None else (tty and sink is None)
        )
        self._heartbeat = heartbeat
        self._clock = clock
        self._start = clock()
        self._lock = threading.RLock()
        self._phases: list[Phase] = []
        self._last_line = clock()
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self._live: Live | None = None
        self._console: Console | None = None
        if self._tty:
            from rich.console import Console

            self._console = Console(file=self._stream, highlight=False)

    # -- lines --------------------------------------------------------------------------------

    def say(self, message: str) -> None:
        """Print one line (prefixed with the time since this reporter started)."""
        with self._lock:
            stamp = f"{self._clock() - self._start:6.1f}s"
            if self._console is not None:
                self._console.print(f"[dim]{stamp}[/dim] {message}", markup=True, highlight=False)
            elif self._sink is not None:
                self._sink(message)
            else:
                print(f"[{stamp}] {message}", file=self._stream, flush=True)
            self._last_line = self._clock()

    __call__ = say  # usable wherever a ``Callable[[str], None]`` logger is expected

    # -- phases -------------------------------------------------------------------------------

    @contextmanager
    def phase(self, what: str, expected: float | None = None, basis: str = "") -> Iterator[Phase]:
        """A step that may take long; yields the :class:`Phase` to ``update`` with details."""
        current = Phase(what, expected, basis, self._clock)
        hint = ""
        if expected:
            hint = f" (expected ~{duration(expected)}{', ' + basis if basis else ''})"
        self.say(f"{what} ...{hint}")
        with self._lock:
            self._phases.append(current)
            self._ensure_ticking()
        ok = False
        try:
            yield current
            ok = True
        finally:
            with self._lock:
                self._phases.remove(current)
                if not self._phases:
                    self._stop_ticking()
            verdict = "done in" if ok else "failed after"
            self.say(f"{what}: {verdict} {duration(current.elapsed)}")

    # -- heartbeat / live display ---------------------------------------------------------------

    def _ensure_ticking(self) -> None:
        if self._console is not None:
            if self._live is None:
                from rich.live import Live

                live = Live(
                    _LiveView(self), console=self._console, refresh_per_second=4, transient=True
                )
                live.start()
                self._live = live
            return
        if self._ticker is None or self._stop.is_set() or not self._ticker.is_alive():
            # A ticker told to stop may still be finishing: it has its own event; start anew.
            self._stop = threading.Event()
            self._ticker = threading.Thread(
                target=self._tick, args=(self._stop,), name="pyodo-progress", daemon=True
            )
            self._ticker.start()

    def _stop_ticking(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._stop.set()

    def _tick(self, stop: threading.Event) -> None:
        while not stop.wait(min(1.0, self._heartbeat / 4)):
            with self._lock:
                if stop.is_set() or not self._phases:
                    return
                if self._clock() - self._last_line >= self._heartbeat:
                    for running in self._innermost():
                        self.say(f"  ... {running.status()}")

    def _innermost(self) -> list[Phase]:
        """The phases to report: per thread, the one started last (an outer one only waits)."""
        by_thread: dict[int, Phase] = {}
        for running in self._phases:
            by_thread[running.thread] = running
        return list(by_thread.values())


class _LiveView:
    """What the terminal shows below the printed lines: a spinner per running phase."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._spinners: dict[int, Spinner] = {}

    def __rich__(self) -> RenderableType:
        from rich.console import Group
        from rich.spinner import Spinner
        from rich.text import Text

        rows: list[RenderableType] = []
        for running in self._progress._innermost():
            spinner = self._spinners.get(id(running))
            if spinner is None:
                spinner = self._spinners[id(running)] = Spinner("dots")
            spinner.update(text=running.status())
            row = spinner.render(time.monotonic())
            if isinstance(row, Text):  # one line per phase, cut to the terminal's width
                row.no_wrap, row.overflow = True, "ellipsis"
            rows.append(row)
        return Group(*rows)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def as_progress(progress: Progress | Callable[[str], None] | None) -> Progress:
    """A :class:`Progress` from what callers pass: one, a line callback, or None (stderr)."""
    if isinstance(progress, Progress):
        return progress
    if progress is None:
        return Progress()
    return Progress(sink=progress)
