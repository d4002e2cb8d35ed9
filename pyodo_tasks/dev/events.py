"""The coalescing event queue between the watchers and the one reconcile loop.

Seed 004's point is that odo dev lost events because two loops each handled some of them. Here
every watcher (spec ConfigMap, pods, retries after an error) only *puts* an :class:`Event`; the
single consumer takes *everything pending* in one batch and reconciles once. Events that arrive
while a reconcile runs wait in the queue and become the next batch: never lost, never handled
concurrently, and a burst of twenty pod updates costs one follow-up reconcile, not twenty.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event", "EventQueue"]


@dataclass(frozen=True)
class Event:
    """Why a reconcile should run. ``kind`` is e.g. ``spec``, ``pod``, ``start``, ``retry``;
    ``generation`` is the spec generation a ``spec`` event saw (0 when not applicable).

    A ``spec`` event carries the spec itself when its sender had it (the client that wrote it,
    the watch that saw it), so the loop need not read back what it was just told; ``saved_at``
    is the ``time.monotonic()`` of the save that caused it (0 when unknown), the start of the
    save->serving latency the status shows. Neither takes part in equality (coalescing)."""

    kind: str
    detail: str = ""
    generation: int = 0
    spec: Any = field(default=None, compare=False)
    saved_at: float = field(default=0.0, compare=False)


class EventQueue:
    """Many producers, one consumer; :meth:`get` returns all pending events at once.

    Equal events are stored once (a set keeps order-free batches cheap). Delayed events
    (:meth:`put_after`, for retries) join the pending set when due. ``clock`` is injectable so
    the timing is testable without sleeping.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._pending: dict[Event, None] = {}  # insertion-ordered set
        self._delayed: list[tuple[float, Event]] = []
        self._closed = False

    def put(self, event: Event) -> None:
        with self._cond:
            if self._closed:
                return
            self._pending[event] = None
            self._cond.notify()

    def put_after(self, event: Event, delay: float) -> None:
        """Deliver ``event`` after ``delay`` seconds (unless the queue is closed by then)."""
        with self._cond:
            if self._closed:
                return
            self._delayed.append((self._clock() + delay, event))
            self._cond.notify()

    def cancel_delayed(self, kind: str) -> None:
        """Drop delayed events of one kind, e.g. a pending retry once a reconcile succeeded."""
        with self._cond:
            self._delayed = [(due, e) for due, e in self._delayed if e.kind != kind]

    def close(self) -> None:
        """Wake the consumer; later puts are dropped and :meth:`get` returns ``[]``."""
        with self._cond:
            self._closed = True
            self._pending.clear()
            self._delayed.clear()
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def get(self, timeout: float) -> list[Event]:
        """Every pending event (possibly several coalesced), or ``[]`` after ``timeout`` or once
        closed. The wait is bounded so the caller can check its own deadline and stop flag."""
        deadline = self._clock() + timeout
        with self._cond:
            while True:
                self._promote_due()
                if self._closed:
                    return []
                if self._pending:
                    batch = list(self._pending)
                    self._pending.clear()
                    return batch
                now = self._clock()
                if now >= deadline:
                    return []
                wake = deadline
                if self._delayed:
                    wake = min(wake, min(due for due, _ in self._delayed))
                self._cond.wait(max(0.0, wake - now))

    def _promote_due(self) -> None:
        now = self._clock()
        due = [(t, e) for t, e in self._delayed if t <= now]
        if due:
            self._delayed = [(t, e) for t, e in self._delayed if t > now]
            for _, event in due:
                self._pending[event] = None
