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
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from pyodo_tasks.core.component import Component, SyncResult
from pyodo_tasks.core.kube import PortForwarder
from pyodo_tasks.dev.display import Display
from pyodo_tasks.dev.events import Event, EventQueue
from pyodo_tasks.dev.schemes import SchemeProber
from pyodo_tasks.dev.state import (
    ForwardedPort,
    Spec,
    State,
    Status,
    configmap,
    spec_name,
    status_name,
)
from pyodo_tasks.errors import ClusterError, CommandError, ConfigError, PyodoError
from pyodo_tasks.failures import log_bug

__all__ = ["Controller", "forwardable_endpoints"]

log = logging.getLogger(__name__)

#: Port-forwarding carries TCP only.
_TCP_PROTOCOLS = frozenset({"http", "https", "ws", "wss", "tcp"})
RETRY_DELAYS = (2.0, 4.0, 8.0, 15.0, 30.0)
#: Lines of a failed build's output kept in the status message.
BUILD_TAIL_LINES = 15


def _scheme_key(endpoint: Any) -> tuple[str, int, str]:
    return (endpoint.name, endpoint.target_port, endpoint.protocol)


def forwardable_endpoints(component: Component) -> list[tuple[str, Any]]:
    """``(container name, endpoint)`` for every endpoint a port-forward can carry, in order."""
    return [
        (container.name, endpoint)
        for container in component.devfile.containers
        for endpoint in container.endpoints
        if endpoint.protocol in _TCP_PROTOCOLS
    ]


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
        self._forwards: dict[str, PortForwarder] = {}
        self._local_ports: dict[str, int] = {}
        self._ports: tuple[ForwardedPort, ...] = ()
        #: The endpoint behind each forwarded port, by name (what the scheme probe needs).
        self._endpoints: dict[str, Any] = {}
        self._schemes = SchemeProber(lambda: self.queue.put(Event("probed")))
        self._pod_uid: str | None = None
        self._pod_name = ""
        self._last_sync = ""
        self._failed_build: str | None = None
        self._retries = 0
        self._written: Status | None = None
        self.reconciles = 0
        self._spec: Spec | None = None
        #: The pod and devfile digest the last successful reconcile checked (see _reconcile).
        self._known_pod: Any = None
        self._verified_devfile = ""
        self._trigger = 0.0
        self._serving_ms = 0
        self._steps = ""

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
        steps = _Steps(started)
        saved = [e.saved_at for e in batch if e.saved_at]
        self._trigger = min(saved) if saved else started
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
            self._pod_uid, self._pod_name = pod.metadata.uid, pod.metadata.name
            self._status(State.POD_RUNNING)
        self._deliver(pod, spec, steps, started)

    def _ready_pod(self, batch: Sequence[Event], spec: Spec, steps: _Steps) -> Any:
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
            self._ensure_forwards()
            pod = self._current_pod_object(component)
            if applied or pod is None or any(e.kind != "spec" for e in batch):
                if applied or pod is None:
                    what = f"applied {', '.join(applied)}; " if applied else ""
                    self._status(State.WAIT_DEPLOYMENT, f"{what}waiting for the pod")
                pod = component.wait_ready(timeout=self.wait_timeout)
            steps.mark("wait")
        return pod

    def _deliver(self, pod: Any, spec: Spec, steps: _Steps, started: float) -> None:
        """Sync, build if anything moved (or an earlier build is owed), record the outcome."""
        component = self.component
        failed = self._failed_build
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
                self._last_sync = f"{result.changes.summary()}, {result.bytes_sent} bytes"
            self._status(State.FILES_SYNCED, "building")  # one write: synced, build under way

        def serving(at: float) -> None:
            self._serving_ms = int((at - self._trigger) * 1000)
            steps.mark("serving")
            self._status(State.RUN_COMMAND_RUNNING)

        try:
            delivery = component.deliver(
                self.display.line,
                pod=pod,
                build=want_build,
                on_synced=synced,
                on_serving=serving,
                timeout=self.build_timeout,
            )
        except CommandError as exc:
            self._failed_build = seen[-1] if seen else None
            self._known_pod, self._verified_devfile = pod, spec.devfile_digest
            self._error(_build_failure(exc))
            return
        result = delivery.sync
        digest = result.digest
        if result.changes:
            self._last_sync = f"{result.changes.summary()}, {result.bytes_sent} bytes"
        self._known_pod, self._verified_devfile = pod, spec.devfile_digest
        if not delivery.built and failed == digest:
            return  # status stays Error until the tree changes
        if delivery.built:
            self._failed_build = None
            if delivery.serving_at is None:  # per-step exec: the build's end is the best we know
                self._serving_ms = int((time.monotonic() - self._trigger) * 1000)
            steps.mark("build")
        duration = int((time.monotonic() - started) * 1000)
        self._steps = str(steps)
        self._status(State.RUN_COMMAND_RUNNING, duration_ms=duration)
        steps.mark("status")
        self._probe_schemes()
        log.debug("reconcile #%d: %s (via %s)", self.reconciles, steps, delivery.via)

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

    def _ensure_forwards(self) -> None:
        """One forward per endpoint, on a local port that stays the same for the session: the
        forwarder looks the pod up per connection, so pod restarts need nothing here."""
        wanted = {
            endpoint.name: (c, endpoint) for c, endpoint in forwardable_endpoints(self.component)
        }
        for name, running in list(self._forwards.items()):
            want = wanted.get(name)
            if want is None or want[1].target_port != running.remote_port:
                running.stop()
                del self._forwards[name]
        ports = []
        self._endpoints = {name: endpoint for name, (_, endpoint) in wanted.items()}
        for name, (container, endpoint) in wanted.items():
            forwarder = self._forwards.get(name)
            if forwarder is None:
                forwarder = self._start_forward(
                    endpoint.target_port, self._local_ports.get(name, 0)
                )
                self._forwards[name] = forwarder
                self._local_ports[name] = forwarder.local_port
            ports.append(
                ForwardedPort(
                    name=name,
                    container=container,
                    local_address=forwarder.host,
                    local_port=forwarder.local_port,
                    container_port=endpoint.target_port,
                    protocol=endpoint.protocol,
                    path=endpoint.path,
                    scheme=self._schemes.scheme(_scheme_key(endpoint)),
                )
            )
        self._ports = tuple(ports)

    def _probe_schemes(self) -> None:
        """The app serves now: find out (off the loop) what each declared-TLS endpoint speaks,
        the decision ``Component.endpoint`` makes, so the URLs shown answer."""
        for port in self._ports:
            endpoint = self._endpoints.get(port.name)
            if endpoint is not None and not port.scheme:
                self._schemes.ensure(_scheme_key(endpoint), port.url, endpoint)

    def _show_probed_schemes(self) -> None:
        """A probe decided: the same ports with the schemes found, in the status."""
        self._ports = tuple(
            replace(port, scheme=self._schemes.scheme(_scheme_key(endpoint)))
            if (endpoint := self._endpoints.get(port.name)) is not None
            else port
            for port in self._ports
        )
        if self._written is not None:
            self._status(self._written.state, self._written.message)

    def _start_forward(self, remote_port: int, local_port: int) -> PortForwarder:
        try:
            return PortForwarder(
                self.kube, self._current_pod, remote_port, local_port=local_port
            ).start()
        except OSError as exc:  # the old local port was taken meanwhile: take a new one
            if not local_port:
                raise ClusterError(f"cannot listen for a port-forward: {exc}") from exc
            log.warning("local port %s is taken (%s); forwarding from a new port", local_port, exc)
            return PortForwarder(self.kube, self._current_pod, remote_port).start()

    def _current_pod(self) -> str:
        """Called by the forwarders for each connection, from their own threads."""
        return self.component.pod_name()

    # -- status --------------------------------------------------------------------------------
    def _status(self, state: State, message: str = "", duration_ms: int = 0) -> None:
        elapsed = int((time.monotonic() - self._trigger) * 1000) if self._trigger else 0
        status = Status(
            state=state,
            message=message,
            ports=self._ports,
            last_sync=self._last_sync,
            pod=self._pod_name,
            observed_generation=self.observed_generation,
            duration_ms=duration_ms,
            elapsed_ms=elapsed,
            serving_ms=self._serving_ms,
            steps=self._steps,
        )
        if status.same_as(self._written):
            return
        obj = configmap(
            status_name(self.name),
            self.name,
            self.kube.namespace,
            "status",
            status.to_data(),
            self.component.context.labels,
        )
        try:
            self.kube.apply(obj)
        except ClusterError as exc:
            self.display.line(f"[dev] could not write the status: {exc}")
            return
        self._written = status

    def _error(self, message: str) -> None:
        self._status(State.ERROR, message)

    def _schedule_retry(self) -> None:
        delay = RETRY_DELAYS[min(self._retries, len(RETRY_DELAYS) - 1)]
        self._retries += 1
        self.queue.cancel_delayed("retry")
        self.queue.put_after(Event("retry"), delay)

    @property
    def ports(self) -> tuple[ForwardedPort, ...]:
        return self._ports

    def stopped(self) -> None:
        """Record that nobody forwards or reconciles any more (the component itself stays)."""
        self.close()
        self._ports = ()
        last = self._written.state if self._written is not None else State.WAIT_DEPLOYMENT
        self._status(last, "doit dev is not running: no port-forwards, no sync")

    def close(self) -> None:
        self._schemes.close()
        for forwarder in self._forwards.values():
            forwarder.stop()
        self._forwards.clear()


class _Steps:
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


def _build_failure(exc: CommandError) -> str:
    tail = exc.output.strip().splitlines()[-BUILD_TAIL_LINES:]
    command = " ".join(exc.args_)
    head = f"build failed: {command} exited {exc.returncode}; the previous app keeps running"
    return "\n".join([head, *tail])
