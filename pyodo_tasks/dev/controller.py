"""The controller half of ``doit dev``: ONE reconcile function for every kind of event.

Whatever happened — the spec ConfigMap changed (an edit, a devfile change), the component's pod
changed or vanished, a retry came due — :meth:`Controller.reconcile` reads the spec and walks the
same steps, each of which knows whether it has anything to do (the engine's
:class:`~pyodo_tasks.core.component.Component`):
reload the devfile if its text changed, apply if the
rendered spec changed, wait for the pod, sync what changed, build if anything moved, make sure
every endpoint is forwarded, and record each step in the status ConfigMap. So a file saved while
the Deployment rolls out, or a pod deleted while nothing was edited, is handled by the same code
as an ordinary save — the two cases seed 004 says odo's two loops got wrong.

Failure rules:

* invalid devfile — status ``Error`` with the one-line DevfileError; the last good component
  keeps running and keeps being forwarded, and nothing from the bad devfile is applied;
* failed build — status ``Error`` with the build's log tail; the supervisor keeps the previous
  app running, and the same tree is not rebuilt until something changes;
* cluster, wait or sync failure — status ``Error`` and a retry after a bounded backoff.

The loop is here; its helpers have a module each: the port-forwards (:mod:`.forwards`), the
status ConfigMap (:mod:`.status`) and the push step (:mod:`.push`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from pyodo_tasks.core.component import Component
from pyodo_tasks.dev.debugging import AttachNotice
from pyodo_tasks.dev.display import Display
from pyodo_tasks.dev.events import Event, EventQueue
from pyodo_tasks.dev.forwards import Forwards, forwardable_endpoints
from pyodo_tasks.dev.push import PushStep
from pyodo_tasks.dev.state import ForwardedPort, Spec, State, spec_name
from pyodo_tasks.dev.status import StatusReport, StepTimes
from pyodo_tasks.errors import ClusterError, ConfigError, PyodoError
from pyodo_tasks.failures import log_bug

__all__ = ["Controller", "forwardable_endpoints"]

log = logging.getLogger(__name__)

RETRY_DELAYS = (2.0, 4.0, 8.0, 15.0, 30.0)


class Controller:
    """Reconciles one component towards its spec ConfigMap; owns the port-forwards."""

    def __init__(
        self,
        component: Component,
        *,
        make_component: Callable[[], Component],
        queue: EventQueue,
        display: Display,
        devfile_digest: str,
        republish: Callable[[], None] | None = None,
        wait_timeout: float = 300.0,
        build_timeout: float = 900.0,
    ) -> None:
        self.component = component
        self.kube = component.kube
        self.name = component.name
        self.make_component = make_component
        self.queue = queue
        self.display = display
        self.republish = republish
        self.wait_timeout = wait_timeout
        self.build_timeout = build_timeout
        #: Digest of the devfile text the current component was loaded from.
        self._devfile_digest = devfile_digest
        self.observed_generation = 0
        self._forwards = Forwards(
            self.kube, self._current_pod, lambda: self.queue.put(Event("probed"))
        )
        self._report = StatusReport(
            self.kube,
            self.name,
            ports=lambda: self._forwards.ports,
            generation=lambda: self.observed_generation,
            labels=lambda: self.component.context.labels,
            say=lambda line: self.display.line(line),
        )
        self._push = PushStep(self._report, write=self._status)
        self._attach = AttachNotice(lambda line: self.display.line(line))
        self._pod_uid: str | None = None
        self._retries = 0
        self.reconciles = 0
        self._spec: Spec | None = None
        #: The pod and devfile digest the last successful reconcile checked (see _reconcile).
        self._known_pod: Any = None
        self._verified_devfile = ""

    # -- the loop body -----------------------------------------------------------------------
    def reconcile(self, batch: Sequence[Event]) -> None:
        """Make the cluster match the spec; never raises a PyodoError (it becomes status)."""
        if batch and all(
            e.kind == "spec" and e.generation <= self.observed_generation for e in batch
        ):
            return  # the echo of a spec this loop already reconciled
        if batch and all(e.kind == "probed" for e in batch):
            self._show_probed_schemes()
            return
        started = time.monotonic()
        self.reconciles += 1
        try:
            self._reconcile(started, batch)
        except PyodoError as exc:
            self._known_pod = None
            self._error(str(exc))
            self._schedule_retry()
        except Exception as exc:
            # The boundary of a loop meant to run all day (controller-runtime requeues the same
            # way): a bug, or the client failing in a way nobody translated — seen: the
            # websocket exec's own error path raising AttributeError while the API server was
            # down — must not end the session. One "pyodo bug" line (the traceback with -v or
            # PYODO_DEBUG=1), shown, retried.
            self._known_pod = None
            self._error(log_bug(log, "reconcile", exc))
            self._schedule_retry()
        else:
            self._retries = 0
            self.queue.cancel_delayed("retry")

    def _reconcile(self, started: float, batch: Sequence[Event]) -> None:
        steps = StepTimes(started)
        saved = [e.saved_at for e in batch if e.saved_at]
        self._report.trigger = min(saved) if saved else started
        spec = self._spec_for(batch)
        if spec is None:
            if self.republish is not None:
                self.republish()
            return
        self.observed_generation = max(self.observed_generation, spec.generation)
        if not self._load_devfile(spec):
            return
        steps.mark("spec")
        pod = self._ready_pod(batch, spec, steps)
        if pod.metadata.uid != self._pod_uid:
            self._pod_uid, self._report.pod_name = pod.metadata.uid, pod.metadata.name
            self._status(State.POD_RUNNING)
        self._deliver(pod, spec, steps, started)

    def _ready_pod(self, batch: Sequence[Event], spec: Spec, steps: StepTimes) -> Any:
        """The pod to deliver to: applied, forwarded and waited for unless nothing but an edit
        happened since the last reconcile."""
        component = self.component
        # An edit on the pod reconciled last time, with the devfile checked then, needs no API
        # read: the rendered spec depends only on the devfile, and anything that happens to
        # pods reaches this loop as a pod event (which takes the full path below).
        known = (
            all(e.kind == "spec" for e in batch)
            and self._known_pod is not None
            and self._verified_devfile == spec.devfile_digest
        )
        self._known_pod, pod = None, self._known_pod if known else None
        if pod is None:
            applied = component.apply()
            steps.mark("apply")
            self._forwards.ensure(self.component)
            pod = self._current_pod_object(component)
            if applied or pod is None or any(e.kind != "spec" for e in batch):
                if applied or pod is None:
                    what = f"applied {', '.join(applied)}; " if applied else ""
                    self._status(State.WAIT_DEPLOYMENT, f"{what}waiting for the pod")
                pod = component.wait_ready(timeout=self.wait_timeout)
            steps.mark("wait")
        return pod

    def _deliver(self, pod: Any, spec: Spec, steps: StepTimes, started: float) -> None:
        """Sync, build if anything moved (or an earlier build is owed), record the outcome
        (:mod:`.push`); once the app serves, probe what its TLS endpoints speak."""
        via = self._push.run(
            self.component,
            pod,
            steps,
            started,
            say=self.display.line,
            timeout=self.build_timeout,
        )
        self._known_pod, self._verified_devfile = pod, spec.devfile_digest
        if via is None:
            return
        self._forwards.probe_schemes()
        self._attach.show(self.component, self._forwards.ports)
        log.debug("reconcile #%d: %s (via %s)", self.reconciles, steps, via)

    # -- steps ---------------------------------------------------------------------------------
    def _spec_for(self, batch: Sequence[Event]) -> Spec | None:
        """The newest spec known: from the batch's events (the client or the watch handed it
        over) when they carry one, else read from the cluster."""
        given = [e.spec for e in batch if e.kind == "spec" and e.spec is not None]
        forced = any(
            e.kind in ("start", "retry", "spec-deleted", "spec-unreadable")
            or (e.kind == "spec" and e.spec is None)
            for e in batch
        )
        newest = max(given, key=lambda sp: sp.generation, default=None)
        cached = self._spec
        if newest is not None and (cached is None or newest.generation >= cached.generation):
            self._spec = newest
        elif forced or cached is None:
            self._spec = self._read_spec()
        return self._spec

    def _read_spec(self) -> Spec | None:
        obj = self.kube.get("ConfigMap", spec_name(self.name))
        if obj is None:
            return None
        try:
            return Spec.from_data(obj.get("data"))
        except ValueError as exc:
            raise ConfigError(f"ConfigMap/{spec_name(self.name)}: {exc}") from exc

    def _load_devfile(self, spec: Spec) -> bool:
        """Swap in a component built from the changed devfile; False (status Error) when the
        devfile is invalid: the last good component stays, untouched and forwarded."""
        if spec.devfile_digest == self._devfile_digest:
            return True
        try:
            component = self.make_component()
            if component.name != self.name:
                raise ConfigError(
                    f"{component.devfile.path}: metadata.name changed from {self.name} to "
                    f"{component.name}: stop doit dev, delete the old component (doit delete) "
                    "and start again"
                )
        except ConfigError as exc:  # DevfileError included
            self._error(str(exc).splitlines()[0])
            return False
        self.component = component
        self._devfile_digest = spec.devfile_digest
        return True

    def _current_pod_object(self, component: Component) -> Any:
        """The running pod when it is the one reconciled last time, else None."""
        try:
            pod = component.pod()
        except ClusterError:
            return None
        return pod if pod.metadata.uid == self._pod_uid else None

    def _show_probed_schemes(self) -> None:
        """A probe decided: the same ports with the schemes found, in the status."""
        self._forwards.show_probed_schemes()
        if self._report.written is not None:
            self._status(self._report.written.state, self._report.written.message)

    def _current_pod(self) -> str:
        """Called by the forwarders for each connection, from their own threads."""
        return self.component.pod_name()

    # -- status --------------------------------------------------------------------------------
    def _status(self, state: State, message: str = "", duration_ms: int = 0) -> None:
        self._report.write(state, message, duration_ms)

    def _error(self, message: str) -> None:
        self._status(State.ERROR, message)

    def _schedule_retry(self) -> None:
        delay = RETRY_DELAYS[min(self._retries, len(RETRY_DELAYS) - 1)]
        self._retries += 1
        self.queue.cancel_delayed("retry")
        self.queue.put_after(Event("retry"), delay)

    @property
    def ports(self) -> tuple[ForwardedPort, ...]:
        return self._forwards.ports

    def stopped(self) -> None:
        """Record that nobody forwards or reconciles any more (the component itself stays)."""
        self.close()
        self._forwards.ports = ()
        written = self._report.written
        last = written.state if written is not None else State.WAIT_DEPLOYMENT
        self._status(last, "doit dev is not running: no port-forwards, no sync")

    def close(self) -> None:
        self._forwards.close()
