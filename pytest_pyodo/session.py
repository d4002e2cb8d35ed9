"""One test run's use of a cluster: boot it once, isolate the run, deploy once, clean up.

A plain library (it never imports pytest, like pytest-httpserver's ``httpserver.py``), so it can
be driven and tested without the plugin. The plugin builds one :class:`PyodoRun` per session
(per xdist worker) and calls :meth:`PyodoRun.cleanup` at the end.

Where a run deploys, decided once by :meth:`PyodoRun.cluster`:

- default: a namespace ``pyodo-<run id>-<worker>`` created for this session and xdist worker,
  labelled with the run id and an expiry, and deleted at the end;
- ``namespace`` set: that namespace (created, labelled and deleted if it did not exist);
  objects are labelled with the run id and deleted by that label;
- the user may not create namespaces (403, e.g. the restricted kubeconfig): the kubeconfig's
  namespace, cleaned up by the run-id label;
- ``reuse``: the kubeconfig's namespace (or ``namespace``), no run labels, nothing deleted, and
  the engine's own state directory, so a component pushed with ``doit push`` is reused as is.

When a namespace is shared by xdist workers, they share each deployment too (a file lock
serializes the pushes, the second finds nothing to do), and the controller deletes the run's
objects once every worker is done (:func:`sweep`).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from pyodo_tasks import RUN_ID_LABEL, Component, PushResult, collect_expired, run_labels
from pyodo_tasks.cluster import ClusterInfo, Provider, get_provider
from pyodo_tasks.core.kube import ExecResult, Kube, ResolvedTarget, Target
from pyodo_tasks.errors import ClusterError, PyodoError
from pyodo_tasks.paths import cache_root

from .settings import Settings, namespace_name

__all__ = [
    "CLUSTER_LOCK",
    "DeployedComponent",
    "Engine",
    "PyodoCluster",
    "PyodoRun",
    "namespace_name",
    "sweep",
]

log = logging.getLogger("pytest_pyodo")

#: The lock every process booting the shared cluster takes (the cluster tests take it too).
CLUSTER_LOCK = "cluster-up.lock"
#: Bound on waiting for another process to finish booting the cluster.
BOOT_LOCK_TIMEOUT = 1800.0
#: Bound on waiting for a namespace or the run's objects to be gone after deleting them.
DELETE_TIMEOUT = 180.0
#: Bound on the first request that checks the cluster answers.
PROBE_TIMEOUT = 15.0

Output = Callable[[str], None]


@dataclass(frozen=True)
class Engine:
    """What a run builds its cluster connection and components from.

    The defaults are the real ones; the plugin's own tests pass in-memory fakes here (through
    ``PluginState.engine``) instead of patching this module.
    """

    provider: Callable[..., Provider] = get_provider
    kube: Callable[[ResolvedTarget], Kube] = Kube
    component: Callable[..., Component] = Component


@dataclass(frozen=True)
class PyodoCluster:
    """The cluster and namespace a session deploys into (what ``pyodo_cluster`` returns).

    ``kubeconfig``/``context`` reach the cluster with the provider's credentials;
    ``namespace`` is where components go. ``owns_namespace`` is True when this session created
    the namespace and deletes it; ``shared_namespace`` when other sessions or workers may deploy
    there too (cleanup then goes by the ``pyodo.dev/run-id`` label).
    """

    provider: str
    name: str
    kubeconfig: Path
    context: str
    namespace: str
    server: str
    run_id: str
    worker: str
    owns_namespace: bool
    shared_namespace: bool
    info: ClusterInfo

    def target(self) -> ResolvedTarget:
        return ResolvedTarget(
            kubeconfig=str(self.kubeconfig),
            context=self.context,
            namespace=self.namespace,
            namespace_explicit=True,
        )


class DeployedComponent:
    """A component deployed for tests: the engine's :class:`Component` plus what tests call.

    It is deployed (pushed) once per session; :meth:`sync` pushes again after a test edited
    files, so the app runs the new code.
    """

    def __init__(
        self,
        component: Component,
        path: Path,
        *,
        timeout: float,
        lock: Path | None = None,
        force_apply: bool = False,
    ) -> None:
        self.component = component
        self.path = path
        self.timeout = timeout
        self._lock = lock
        self._force_apply = force_apply
        self.result: PushResult | None = None
        self.push_seconds: float | None = None
        #: Why the first deploy (or the ready hook) failed; later requests fail fast with it.
        self.error: BaseException | None = None

    def __repr__(self) -> str:
        return f"<DeployedComponent {self.name} in {self.namespace} from {self.path}>"

    @property
    def name(self) -> str:
        return self.component.name

    @property
    def namespace(self) -> str:
        return self.component.namespace

    @property
    def source_dir(self) -> str:
        """Where the files are synced in the app container (``exec`` does not start there)."""
        return self.component.devfile.source_dir

    @property
    def deployed(self) -> bool:
        return self.result is not None

    def _say(self, line: str) -> None:
        log.info("[%s] %s", self.name, line)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialize pushes of one component by every process sharing its namespace."""
        if self._lock is None:
            yield
            return
        self._lock.parent.mkdir(parents=True, exist_ok=True)
        # A push's own waits are bounded (rollout ``timeout``, build 900 s): so is this one.
        with FileLock(str(self._lock), timeout=self.timeout + 900):
            yield

    def ensure_deployed(self) -> DeployedComponent:
        """Push once; a failed push is remembered so later tests fail fast with its reason."""
        if self.error is not None:
            raise ClusterError(
                f"component {self.name} ({self.path}) could not be deployed earlier in this "
                f"session: {self.error}"
            ) from self.error
        if self.result is None:
            start = time.monotonic()
            try:
                with self._locked():
                    if self._force_apply:
                        # Take over objects an earlier run left here, so our labels (and so our
                        # cleanup) cover them; a same-spec apply does not roll the pod.
                        self.component.apply(force=True)
                    self.result = self.component.push(output=self._say, timeout=self.timeout)
            except PyodoError as exc:
                self.error = exc
                raise
            self.push_seconds = time.monotonic() - start
            self._say(f"deployed in {self.push_seconds:.1f}s (pod/{self.result.pod})")
        return self

    def sync(self, output: Output | None = None) -> PushResult:
        """Send edited files, then rebuild and restart the app if anything changed."""
        with self._locked():
            self.result = self.component.push(output=output or self._say, timeout=self.timeout)
        return self.result

    def endpoint(self, name: str | None = None, timeout: float = 120.0) -> str:
        """A URL reachable from the test process, returned only once the app answers."""
        return self.component.endpoint(name, timeout=timeout)

    def service_url(self, name: str | None = None) -> str:
        """The in-cluster address (``http://<svc>.<ns>.svc:<port>``) for other pods."""
        return self.component.service_url(name)

    def exec(
        self,
        args: Sequence[str],
        *,
        container: str | None = None,
        check: bool = False,
        timeout: float = 60.0,
        input: bytes | None = None,
    ) -> ExecResult:
        """Run a command in the app container, shaped like ``subprocess.run``."""
        return self.component.exec(
            args, container=container, check=check, timeout=timeout, input=input
        )

    def logs(self, tail_lines: int | None = 200, container: str | None = None) -> str:
        """The container's log (the app's output, through the supervisor)."""
        return self.component.logs(tail_lines=tail_lines, container=container)

    def restart(self) -> None:
        """Restart the app through the supervisor (same pod); ``endpoint()`` waits for it."""
        self.component.restart()

    def debug_report(self, tail_lines: int = 50) -> str:
        """Pod status, recent events and the log tail (what the failing test's report shows)."""
        return self.component.debug_report(tail_lines=tail_lines)

    def close(self) -> None:
        self.component.close()


def _probe(kube: Kube, where: str) -> None:
    """Fail early, naming the fix, when the API server does not answer."""
    try:
        kube.version(timeout=PROBE_TIMEOUT)
    except ClusterError as exc:
        raise ClusterError(
            f"{where} does not answer ({exc}): start it (`python -m pyodo_tasks.cluster up` "
            "for the local one) or point --pyodo-kubeconfig/--pyodo-context at a running one",
            status=exc.status,
            reason=exc.reason,
            retryable=exc.retryable,
        ) from exc


def delete_namespace(kube: Kube, name: str, timeout: float = DELETE_TIMEOUT) -> bool:
    """Delete a namespace and wait until it is gone; False when it was already gone."""
    if not kube.delete_namespace(name):
        return False
    kube.wait_namespace_gone(name, timeout)
    return True


def delete_run_objects(
    kube: Kube, namespace: str, run_id: str, timeout: float = DELETE_TIMEOUT
) -> list[str]:
    """Delete the run's labelled objects in a shared namespace and wait until they are gone."""
    selector = f"{RUN_ID_LABEL}={run_id}"
    gone = kube.delete_labelled(selector, namespace)
    what = f"the run's objects in {namespace} to be deleted"
    kube.wait_labelled_gone(selector, what, timeout, namespace=namespace)
    return gone


def run_namespaces(kube: Kube, run_id: str) -> list[str]:
    """Namespaces labelled with ``run_id`` (empty when the user may not list namespaces)."""
    try:
        items = kube.namespaces(f"{RUN_ID_LABEL}={run_id}")
    except ClusterError as exc:
        if exc.status == 403:
            return []
        raise
    return [ns.metadata.name for ns in items]


def sweep(
    kubeconfig: str,
    context: str,
    run_id: str,
    shared_namespaces: Sequence[str] = (),
    timeout: float = DELETE_TIMEOUT,
    engine: Engine | None = None,
) -> list[str]:
    """Delete whatever is still labelled with ``run_id``: run by the xdist controller at the end.

    Workers delete their own namespaces; this catches a worker that crashed first, and the
    objects workers shared in one namespace (which no single worker may delete).
    """
    done: list[str] = []
    base = shared_namespaces[0] if shared_namespaces else "default"
    with (engine or Engine()).kube(ResolvedTarget(kubeconfig, context, base)) as kube:
        for namespace in run_namespaces(kube, run_id):
            if delete_namespace(kube, namespace, timeout):
                done.append(f"deleted namespace/{namespace}")
        for namespace in dict.fromkeys(shared_namespaces):
            gone = delete_run_objects(kube, namespace, run_id, timeout)
            if gone:
                done.append(f"deleted {', '.join(gone)} in {namespace}")
    return done


class PyodoRun:
    """Everything one session (or one xdist worker) does with the cluster.

    Lazy: nothing touches the cluster until :meth:`cluster` or :meth:`deploy` is called.
    ``distributed`` is True in an xdist worker (the controller then sweeps shared namespaces).
    ``state_dir`` keeps the file indexes of components in ephemeral namespaces.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        run_id: str,
        worker: str = "main",
        distributed: bool = False,
        state_dir: Path,
        environ: Mapping[str, str] | None = None,
        on_ready: Callable[[DeployedComponent], None] | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.settings = settings
        self.run_id = run_id
        self.worker = worker
        self.distributed = distributed
        self.state_dir = state_dir
        self.environ = os.environ if environ is None else environ
        self.on_ready = on_ready
        self.engine = engine or Engine()
        self._connection: tuple[PyodoCluster, Kube] | None = None
        self._cluster_error: PyodoError | None = None
        self._components: dict[str, DeployedComponent] = {}
        self._cleaned = False
        self.cleanup_log: list[str] = []

    # -- the cluster and the namespace -------------------------------------------------------
    def _provider_options(self) -> dict[str, Any]:
        s = self.settings
        if s.cluster == "kubeconfig":
            return {"kubeconfig": s.kubeconfig, "context": s.context}
        if s.cluster == "local":
            return {"progress": lambda message: log.info("[cluster] %s", message)}
        return {}

    def cluster(self) -> PyodoCluster:
        """Boot or connect to the cluster (once, under a file lock) and set up the namespace."""
        return self._connect()[0]

    def _connect(self) -> tuple[PyodoCluster, Kube]:
        if self._connection is not None:
            return self._connection
        if self._cluster_error is not None:
            raise ClusterError(
                f"the cluster could not be set up earlier in this session: {self._cluster_error}"
            ) from self._cluster_error
        try:
            self._connection = self._setup()
        except PyodoError as exc:
            self._cluster_error = exc
            raise
        return self._connection

    def _setup(self) -> tuple[PyodoCluster, Kube]:
        s = self.settings
        provider = self.engine.provider(s.cluster, **self._provider_options())
        cache_root().mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        with FileLock(str(cache_root() / CLUSTER_LOCK), timeout=BOOT_LOCK_TIMEOUT):
            info = provider.up()
        log.info("[cluster] %s up in %.1fs", info.context, time.monotonic() - start)
        target = Target(
            kubeconfig=str(info.kubeconfig), context=info.context, namespace=s.namespace
        ).resolve(self.environ)
        base = self.engine.kube(target)
        try:
            _probe(base, f"cluster {info.name} (context {info.context}, {info.server})")
            self._collect_garbage(base)
            namespace, owns, shared = self._choose_namespace(base, target.namespace)
        finally:
            base.close()
        cluster = PyodoCluster(
            provider=info.provider,
            name=info.name,
            kubeconfig=Path(info.kubeconfig),
            context=info.context,
            namespace=namespace,
            server=info.server,
            run_id=self.run_id,
            worker=self.worker,
            owns_namespace=owns,
            shared_namespace=shared,
            info=info,
        )
        if not (s.keep or s.reuse):
            # The last resort when the session ends without pytest's teardown (e.g. a second
            # Ctrl-C during it): cleanup() unregisters it once it ran.
            atexit.register(self._atexit_cleanup)
        return cluster, self.engine.kube(cluster.target())

    def _collect_garbage(self, kube: Kube) -> None:
        """Delete what killed runs left behind, once per session (``doit gc`` does the same)."""
        try:
            gone = collect_expired(kube)
        except ClusterError as exc:
            log.warning("[gc] %s", exc)
            return
        if gone:
            log.info("[gc] deleted expired %s", ", ".join(gone))
            self.cleanup_log.append(f"gc deleted expired {', '.join(gone)}")

    def labels(self) -> dict[str, str]:
        """Labels on everything this run creates (none when reusing a deployment)."""
        if self.settings.reuse:
            return {}
        return run_labels(self.run_id, self.settings.ttl)

    def _choose_namespace(self, kube: Kube, configured: str) -> tuple[str, bool, bool]:
        """``(namespace, owns it, shared)``; see the module docstring for the rules."""
        s = self.settings
        if s.reuse:
            return configured, False, True
        explicit = s.namespace is not None
        name = configured if explicit else namespace_name(self.run_id, self.worker)
        try:
            created = kube.ensure_namespace(name, self.labels())
        except ClusterError as exc:
            if exc.status != 403:
                raise
            if explicit:
                return name, False, True  # exists or not, the apply will say
            log.warning(
                "[namespace] may not create namespaces (%s); deploying into %s and cleaning up "
                "by the %s=%s label",
                exc,
                configured,
                RUN_ID_LABEL,
                self.run_id,
            )
            return configured, False, True
        if explicit:
            # A named namespace may be shared by the workers: the controller deletes it then.
            return name, created and not self.distributed, True
        return name, True, False

    # -- components --------------------------------------------------------------------------
    def component(
        self,
        path: Path | str,
        *,
        image_overrides: Mapping[str, str] | None = None,
        render_options: Mapping[str, Any] | None = None,
    ) -> DeployedComponent:
        """The (cached) handle of a component in this run's namespace, not yet pushed."""
        path = Path(path).resolve()
        key = json.dumps(
            [str(path), dict(image_overrides or {}), dict(render_options or {})],
            sort_keys=True,
            default=str,
        )
        handle = self._components.get(key)
        if handle is not None:
            return handle
        cluster, kube = self._connect()
        shared = cluster.shared_namespace
        component = self.engine.component(
            path,
            kube=kube,
            image_overrides=image_overrides,
            labels=self.labels(),
            render_options=render_options,
            # Shared namespaces keep the engine's state (other workers and `doit push` read it);
            # an ephemeral namespace's state dies with the session.
            state_dir=None if shared else self.state_dir,
            environ=self.settings.component_environ(self.environ),
        )
        lock = component.state_dir / f"push-{component.key}.lock" if shared else None
        handle = DeployedComponent(
            component,
            path,
            timeout=self.settings.timeout,
            lock=lock,
            force_apply=shared and not self.settings.reuse,
        )
        self._components[key] = handle
        return handle

    def deploy(
        self,
        path: Path | str,
        *,
        image_overrides: Mapping[str, str] | None = None,
        render_options: Mapping[str, Any] | None = None,
    ) -> DeployedComponent:
        """Deploy a component once per session (per path and overrides) and return it."""
        handle = self.component(
            path, image_overrides=image_overrides, render_options=render_options
        )
        if not handle.deployed:
            handle.ensure_deployed()
            if self.on_ready is not None:
                try:
                    self.on_ready(handle)
                except BaseException as exc:
                    handle.error = exc  # later tests must not run against a half-ready app
                    raise
        elif handle.error is not None:
            handle.ensure_deployed()  # raises with the remembered reason
        return handle

    @property
    def components(self) -> list[DeployedComponent]:
        return list(self._components.values())

    # -- the end -----------------------------------------------------------------------------
    def cleanup(self, timeout: float = DELETE_TIMEOUT) -> list[str]:
        """Stop port-forwards and delete what this session created (idempotent).

        Never raises for the cluster's sake: what failed goes into the returned lines (and the
        terminal summary), and ``doit gc`` deletes it after its expiry.
        """
        if self._cleaned:
            return []
        self._cleaned = True
        atexit.unregister(self._atexit_cleanup)
        for handle in self._components.values():
            handle.close()
        if self._connection is None:
            return []
        cluster, kube = self._connection
        lines: list[str] = []
        try:
            lines = self._delete(cluster, kube, timeout)
        except PyodoError as exc:
            lines = [f"cleanup failed: {exc} (`doit gc` deletes it after its expiry)"]
            log.warning("[cleanup] %s", exc)
        finally:
            kube.close()
        self.cleanup_log.extend(lines)
        return lines

    def _delete(self, cluster: PyodoCluster, kube: Kube, timeout: float) -> list[str]:
        s = self.settings
        ns = cluster.namespace
        if s.reuse:
            return [f"reused components left running in namespace/{ns} (--pyodo-reuse)"]
        if s.keep:
            where = f"namespace/{ns}" if cluster.owns_namespace else f"{ns} ({RUN_ID_LABEL})"
            return [
                f"kept {where} (--pyodo-keep); delete it with "
                f"`kubectl --context {cluster.context} delete namespace {ns}` or let "
                "`doit gc` collect it after its expiry"
            ]
        start = time.monotonic()
        if cluster.owns_namespace:
            delete_namespace(kube, ns, timeout)
            return [f"deleted namespace/{ns} in {time.monotonic() - start:.1f}s"]
        if self.distributed:
            return [f"objects in shared namespace/{ns} are deleted by the xdist controller"]
        gone = delete_run_objects(kube, ns, self.run_id, timeout)
        what = ", ".join(gone) or "nothing"
        return [f"deleted {what} in namespace/{ns} in {time.monotonic() - start:.1f}s"]

    def _atexit_cleanup(self) -> None:
        self.cleanup(timeout=60.0)

    def summary(self) -> dict[str, Any]:
        """A JSON-able account of the run (sent from xdist workers to the controller)."""
        cluster = self._connection[0] if self._connection else None
        return {
            "run_id": self.run_id,
            "worker": self.worker,
            "kubeconfig": str(cluster.kubeconfig) if cluster else None,
            "context": cluster.context if cluster else None,
            "namespace": cluster.namespace if cluster else None,
            "shared_namespace": bool(cluster and cluster.shared_namespace),
            "components": [
                {
                    "name": h.name,
                    "namespace": h.namespace,
                    "path": str(h.path),
                    "push_seconds": h.push_seconds,
                    "error": str(h.error) if h.error else None,
                }
                for h in self._components.values()
            ],
            "cleanup": list(self.cleanup_log),
        }
