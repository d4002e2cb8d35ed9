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

from pyodo_tasks.core.kube import Kube
from pyodo_tasks.dev.state import ForwardedPort, State, Status, configmap, status_name
from pyodo_tasks.errors import ClusterError

__all__ = ["StatusReport", "StepTimes"]


class StatusReport:
    """The facts the next status write reports, and the last status written.

    The reconcile loop keeps ``pod_name``, ``last_sync``, ``trigger`` (when the change being
    reconciled was saved), ``serving_ms`` and ``steps`` up to date; ``ports``, ``generation``
    and ``labels`` are asked for at each write (the forwards and the component change under
    it). ``say`` shows a write that failed.
    """

    def __init__(
        self,
        kube: Kube,
        name: str,
        *,
        ports: Callable[[], tuple[ForwardedPort, ...]],
        generation: Callable[[], int],
        labels: Callable[[], Mapping[str, str]],
        say: Callable[[str], None],
    ) -> None:
        self.kube = kube
        self.name = name
        self._ports = ports
        self._generation = generation
        self._labels = labels
        self._say = say
        self.pod_name = ""
        self.last_sync = ""
        self.trigger = 0.0
        self.serving_ms = 0
        self.steps = ""
        self.written: Status | None = None

    def write(self, state: State, message: str = "", duration_ms: int = 0) -> None:
        elapsed = int((time.monotonic() - self.trigger) * 1000) if self.trigger else 0
        status = Status(
            state=state,
            message=message,
            ports=self._ports(),
            last_sync=self.last_sync,
            pod=self.pod_name,
            observed_generation=self._generation(),
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
            self._labels(),
        )
        try:
            self.kube.apply(obj)
        except ClusterError as exc:
            self._say(f"[dev] could not write the status: {exc}")
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
