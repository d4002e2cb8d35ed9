"""The push step of a reconcile: sync into the ready pod, build if anything moved, say so.

One exchange with the component (:meth:`~pyodo_tasks.core.component.Component.deliver`): the
sync's outcome is written to the status before the build starts, and the moment the app serves
again is measured from the save that triggered the reconcile. A failed build leaves the
previous app running (the supervisor keeps it) and is remembered by the tree it failed on: only
an edit retries it, so neither a pod event nor a retry rebuilds the same tree.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pyodo_tasks.core.component import Component, SyncResult
from pyodo_tasks.core.delivery import Delivery
from pyodo_tasks.dev.state import State
from pyodo_tasks.dev.status import StatusReport, StepTimes
from pyodo_tasks.errors import CommandError

__all__ = ["PushStep"]

#: Lines of a failed build's output kept in the status message.
BUILD_TAIL_LINES = 15


class PushStep:
    """Sync, build if anything moved (or an earlier build is owed), record the outcome.

    ``write`` writes the status (the controller's, with its ports and generation); ``report``
    holds the facts it reports.
    """

    def __init__(self, report: StatusReport, *, write: Callable[..., None]) -> None:
        self.report = report
        self._write = write
        #: The tree digest whose build failed, not rebuilt until something changes.
        self.failed_build: str | None = None

    def run(
        self,
        component: Component,
        pod: Any,
        steps: StepTimes,
        started: float,
        *,
        say: Callable[[str], None],
        timeout: float,
    ) -> str | None:
        """How it was delivered (the delivery's ``via``); None when nothing new serves: the
        build failed, or the tree is the one whose build failed (the status stays Error).
        ``say`` shows the build's output live."""
        report = self.report
        failed = self.failed_build
        seen: list[str] = []

        def want_build(result: SyncResult) -> bool:
            seen.append(result.digest)
            # only an edit retries a failed build
            retry_failed = failed == result.digest
            return bool(result.changes) or (
                not retry_failed and not component.build_uptodate(result.digest)
            )

        def synced(result: SyncResult) -> None:
            steps.mark("sync")
            if result.changes:
                report.last_sync = f"{result.changes.summary()}, {result.bytes_sent} bytes"
            self._write(State.FILES_SYNCED, "building")  # one write: synced, build under way

        def serving(at: float) -> None:
            report.serving_ms = int((at - report.trigger) * 1000)
            steps.mark("serving")
            self._write(State.RUN_COMMAND_RUNNING)

        try:
            delivery = component.deliver(
                say,
                pod=pod,
                build=want_build,
                on_synced=synced,
                on_serving=serving,
                timeout=timeout,
            )
        except CommandError as exc:
            self.failed_build = seen[-1] if seen else None
            self._write(State.ERROR, _build_failure(exc))
            return None
        return self._record(delivery, failed, steps, started)

    def _record(
        self, delivery: Delivery, failed: str | None, steps: StepTimes, started: float
    ) -> str | None:
        """The delivery's outcome in the status (``failed``: the digest whose build had failed
        before this push)."""
        report = self.report
        result = delivery.sync
        digest = result.digest
        if result.changes:
            report.last_sync = f"{result.changes.summary()}, {result.bytes_sent} bytes"
        if not delivery.built and failed == digest:
            return None  # status stays Error until the tree changes
        if delivery.built:
            self.failed_build = None
            if delivery.serving_at is None:  # per-step exec: the build's end is the best we know
                report.serving_ms = int((time.monotonic() - report.trigger) * 1000)
            steps.mark("build")
        duration = int((time.monotonic() - started) * 1000)
        report.steps = str(steps)
        self._write(State.RUN_COMMAND_RUNNING, duration_ms=duration)
        steps.mark("status")
        return delivery.via


def _build_failure(exc: CommandError) -> str:
    tail = exc.output.strip().splitlines()[-BUILD_TAIL_LINES:]
    command = " ".join(exc.args_)
    head = f"build failed: {command} exited {exc.returncode}; the previous app keeps running"
    return "\n".join([head, *tail])
