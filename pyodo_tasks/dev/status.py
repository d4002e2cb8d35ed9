"""What the status ConfigMap of ``doit dev`` says, and writing it.

The display and ``doit dev``'s clients watch that ConfigMap, so the controller writes it at each
step of a reconcile — but only when it says something new (timings aside): a no-op reconcile
writes nothing. A write that cannot reach the cluster is shown, never raised: the loop goes on
and the next step writes again. :class:`StepTimes` measures where an edit's latency goes, for
``-v`` logs and the status's ``steps``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass

from pyodo_tasks.core.kube import Kube
from pyodo_tasks.dev.state import ForwardedPort, State, Status, configmap, status_name
from pyodo_tasks.errors import ClusterError

__all__ = ["StatusReport", "StepTimes"]


@dataclass(eq=False)
class StatusReport:
    """The facts the next status write reports, and the last status written.

    The reconcile loop keeps ``pod_name``, ``last_sync``, ``trigger`` (when the change being
    reconciled was saved), ``serving_ms`` and ``steps`` up to date; ``ports``, ``generation``
    and ``labels`` are asked for at each write (the forwards and the component change under
    it). ``say`` shows a write that failed.
    """

    kube: Kube
    name: str
    _: KW_ONLY
    ports: Callable[[], tuple[ForwardedPort, ...]]
    generation: Callable[[], int]
    labels: Callable[[], Mapping[str, str]]
    say: Callable[[str], None]
    pod_name: str = ""
    last_sync: str = ""
    trigger: float = 0.0
    serving_ms: int = 0
    steps: str = ""
    written: Status | None = None

    def write(self, state: State, message: str = "", duration_ms: int = 0) -> None:
        elapsed = int((time.monotonic() - self.trigger) * 1000) if self.trigger else 0
        status = Status(
            state=state,
            message=message,
            ports=self.ports(),
            last_sync=self.last_sync,
            pod=self.pod_name,
            observed_generation=self.generation(),
            duration_ms=duration_ms,
            elapsed_ms=elapsed,
            serving_ms=self.serving_ms,
            steps=self.steps,
        )
        if status.same_as(self.written):
            return
        obj = configmap(
            status_name(self.name),
            self.name,
            self.kube.namespace,
            "status",
            status.to_data(),
            self.labels(),
        )
        try:
            self.kube.apply(obj)
        except ClusterError as exc:
            self.say(f"[dev] could not write the status: {exc}")
            return
        self.written = status


class StepTimes:
    """Milliseconds per reconcile step, for ``-v`` logs: where an edit's latency goes."""

    def __init__(self, started: float) -> None:
        self._last = started
        self._started = started
        self._marks: list[tuple[str, float]] = []

    def mark(self, step: str) -> None:
        now = time.monotonic()
        self._marks.append((step, now - self._last))
        self._last = now

    def __str__(self) -> str:
        parts = [f"{step} {seconds * 1000:.0f}ms" for step, seconds in self._marks]
        return ", ".join(parts) + f" (total {(self._last - self._started) * 1000:.0f}ms)"
