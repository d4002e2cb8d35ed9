"""A component deployed for tests: deployed once, attached to by other xdist workers, verified.

:class:`DeployedComponent` wraps the engine's :class:`~pyodo_tasks.core.component.Component`
with what a test calls (endpoint, exec, logs, sync, verify) and with the once-per-run rules:

- the first request pushes it (apply, wait, sync, build) and then verifies that the container
  holds what was synced (:mod:`pyodo_tasks.core.verify`, one exec);
- a deployment shared by xdist workers has a *coordination directory* (the run's directory,
  same host): the first worker takes a file lock, pushes, runs the ready hook and writes a
  ``deployed`` marker; the others wait on the lock, find the marker, and only attach (find the
  pod, verify) — they never push concurrently into the same container. A failed deploy writes a
  ``failed`` marker with its reason, so the other workers fail at once instead of trying again.

A plain library (no pytest).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from filelock import FileLock

from pyodo_tasks import Component, PushResult
from pyodo_tasks.core.kube import AppExec, ExecResult
from pyodo_tasks.errors import ClusterError, PyodoError

__all__ = ["DeployedComponent"]

log = logging.getLogger("pytest_pyodo")

Output = Callable[[str], None]
#: Bound on waiting for another process to finish a deploy, beyond the deploy's own timeout
#: (a build is bounded at 900 s by the engine).
BUILD_BOUND = 900.0


class DeployedComponent(AppExec):
    """A component deployed for tests: the engine's :class:`Component` plus what tests call.

    It is deployed (pushed) once per session — or once per run when xdist workers share it
    (``coordination`` set); :meth:`sync` pushes again after a test edited files, so the app runs
    the new code; :meth:`verify` checks the container still holds what was synced.
    """

    def __init__(
        self,
        component: Component,
        path: Path,
        *,
        timeout: float,
        lock: Path | None = None,
        force_apply: bool = False,
        coordination: Path | None = None,
        verifier: Callable[..., Any] | None = None,
        shared: bool = True,
        on_ready: Callable[[DeployedComponent], None] | None = None,
    ) -> None:
        self.component = component
        self.path = path
        self.timeout = timeout
        self.shared = shared
        self._lock = lock
        self._force_apply = force_apply
        self._coordination = coordination
        self._verifier = verifier
        self._on_ready = on_ready
        self.result: PushResult | None = None
        #: The pod the tests talk to (known once deployed or attached).
        self.pod: str | None = None
        #: True when another xdist worker deployed it and this one attached.
        self.attached = False
        self.push_seconds: float | None = None
        self.verified: Any = None
        #: Why the first deploy (or the ready hook) failed; later requests fail fast with it.
        self.error: BaseException | None = None
        #: The pod object an attach found, handed to the verification that follows.
        self._found: Any = None

    def __repr__(self) -> str:
        return f"<DeployedComponent {self.name} in {self.namespace} from {self.path}>"

    @property
    def name(self) -> str:
        return self.component.name

    @property
    def namespace(self) -> str:
        return self.component.namespace

    @property
    def image(self) -> str:
        """The app container's image (after overrides)."""
        return str(self.component.devfile.app_container.image)

    @property
    def source_dir(self) -> str:
        """Where the files are synced in the app container (``exec`` does not start there)."""
        return str(self.component.devfile.source_dir)

    @property
    def deployed(self) -> bool:
        return self.pod is not None

    def _say(self, line: str) -> None:
        log.info("[%s] %s", self.name, line)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialize pushes of one component by every process sharing it."""
        if self._lock is None:
            yield
            return
        self._lock.parent.mkdir(parents=True, exist_ok=True)
        # A push's own waits are bounded (rollout ``timeout``, build 900 s): so is this one.
        with FileLock(str(self._lock), timeout=self.timeout + BUILD_BOUND):
            yield

    def _marker(self, what: str) -> Path | None:
        if self._coordination is None:
            return None
        return self._coordination / f"{what}-{self.component.key}"

    def ensure_deployed(self) -> DeployedComponent:
        """Deploy (or attach) once; a failure is remembered so later tests fail fast."""
        if self.error is not None:
            raise ClusterError(
                f"component {self.name} ({self.path}) could not be deployed earlier in this "
                f"session: {self.error}"
            ) from self.error
        if self.pod is None:
            start = time.monotonic()
            try:
                with self._locked():
                    self._deploy_or_attach()
                if self.attached:
                    self.verify()
            except PyodoError as exc:
                self.error = exc
                raise
            self.push_seconds = time.monotonic() - start
            how = "attached to the run's deployment" if self.attached else "deployed"
            self._say(f"{how} in {self.push_seconds:.1f}s (pod/{self.pod})")
        return self

    def _deploy_or_attach(self) -> None:
        """Under the lock: fail fast, attach to another worker's deploy, or push."""
        failed, done = self._marker("failed"), self._marker("deployed")
        if failed is not None and failed.exists():
            raise ClusterError(
                f"component {self.name} could not be deployed by another xdist worker of this "
                f"run: {failed.read_text().strip()}"
            )
        if done is not None and done.exists():
            self._attach()
            return
        try:
            if self._force_apply:
                # Take over objects an earlier run left here, so our labels (and so our
                # cleanup) cover them; a same-spec apply does not roll the pod.
                self.component.apply(force=True)
            self.result = self.component.push(output=self._say, timeout=self.timeout)
            self.pod = self.result.pod
            self.verify()
            self._ready_once()
        except BaseException as exc:
            self.pod = None
            if failed is not None:
                failed.write_text(f"{exc}\n")
            raise
        if done is not None:
            done.write_text(f"{self.pod}\n")

    def _attach(self) -> None:
        """Another process deployed it: find its pod from one pod list, made without the
        Kubernetes client when the kubeconfig allows (as ``doit push``'s no-op does); wait for
        the rollout only when that list cannot tell."""
        found = self.component.current_pod()
        if found is None:
            found = self.component.wait_ready(timeout=self.timeout)
        self.pod = found.metadata.name
        self._found = found
        self.attached = True
        try:
            self._ready_once()
        except BaseException:
            self.pod = None
            raise

    def _ready_once(self) -> None:
        """Run the ready hook once per deployment, inside the lock (the others wait for it):
        in the process that deployed it, or, when that one has no hook (the xdist
        controller's early deploy, :mod:`.handoff`), in the first one to attach."""
        if self._on_ready is None:
            return
        marker = self._marker("ready")
        if marker is not None and marker.exists():
            return
        try:
            self._on_ready(self)
        except BaseException as exc:  # every later request fails with it, in every process
            failed = self._marker("failed")
            if failed is not None:
                failed.write_text(f"{exc}\n")
            raise
        if marker is not None:
            marker.touch()

    def verify(self) -> Any:
        """Check that the container holds exactly what pyodo synced (one exec); raises
        :class:`~pyodo_tasks.core.verify.SyncMismatch` listing the differing paths."""
        if self._verifier is None:
            return None
        found, self._found = self._found, None  # the pod just listed, once: it may change
        if found is not None:
            self.verified = self._verifier(self.component, found)
        else:
            self.verified = self._verifier(self.component)
        self._say(self.verified.summary())
        return self.verified

    def sync(self, output: Output | None = None) -> PushResult:
        """Send edited files, then rebuild and restart the app if anything changed; verify."""
        with self._locked():
            self.result = self.component.push(output=output or self._say, timeout=self.timeout)
            self.pod = self.result.pod
        self.verify()
        return self.result

    def endpoint(self, name: str | None = None, timeout: float = 120.0) -> str:
        """A URL reachable from the test process, returned only once the app answers."""
        return str(self.component.endpoint(name, timeout=timeout))

    def service_url(self, name: str | None = None) -> str:
        """The in-cluster address (``http://<svc>.<ns>.svc:<port>``) for other pods."""
        return str(self.component.service_url(name))

    def _exec(self, args: Sequence[str], **options: Any) -> ExecResult:
        return self.component.exec(args, **options)

    def logs(self, tail_lines: int | None = 200, container: str | None = None) -> str:
        """The container's log (the app's output, through the supervisor)."""
        return str(self.component.logs(tail_lines=tail_lines, container=container))

    def restart(self) -> None:
        """Restart the app through the supervisor (same pod); ``endpoint()`` waits for it."""
        self.component.restart()

    def debug_report(self, tail_lines: int = 50) -> str:
        """Pod status, recent events and the log tail (what the failing test's report shows)."""
        return str(self.component.debug_report(tail_lines=tail_lines))

    def close(self) -> None:
        self.component.close()
