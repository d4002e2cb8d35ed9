"""One test run's use of a cluster: boot it once, isolate the run, deploy once, clean up.

A plain library (it never imports pytest, like pytest-httpserver's ``httpserver.py``), so it can
be driven and tested without the plugin. The plugin builds one :class:`PyodoRun` per session
(per xdist worker) and calls :meth:`PyodoRun.cleanup` at the end.

Where a run deploys, decided once by :meth:`PyodoRun.cluster`:

- default: a namespace ``pyodo-<run id>-main`` created for this session, labelled with the run
  id and an expiry, and deleted at the end; under xdist ONE namespace for the run,
  ``pyodo-<run id>-shared``, where each component is deployed once and used by every worker,
  deleted by the controller after the last worker finished (a crashed worker cannot skip it),
  plus ``pyodo-<run id>-<worker>`` for a worker's own copies (``shared=False``), deleted by it;
- ``namespace`` set: that namespace (created, labelled and deleted if it did not exist);
  objects are labelled with the run id and deleted by that label;
- the user may not create namespaces (403, e.g. the restricted kubeconfig): the kubeconfig's
  namespace, cleaned up by the run-id label;
- ``reuse``: the kubeconfig's namespace (or ``namespace``), no run labels, nothing deleted, and
  the engine's own state directory, so a component pushed with ``doit push`` is reused as is.

When a namespace is shared by xdist workers, they share each deployment too (the first worker
deploys under a file lock, the others attach: see :mod:`.deployed`), and the controller deletes
the run's objects once every worker is done (:func:`sweep`). Every run keeps a liveness record
(:mod:`.liveness`) so that the next session reaps a killed run at once, not after its expiry.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from filelock import FileLock

from pyodo_tasks import RUN_ID_LABEL, Component, collect_expired, run_labels, verify_sync
from pyodo_tasks.cluster import ClusterInfo, Provider, get_provider
from pyodo_tasks.core.kube import Kube, ResolvedTarget, Target
from pyodo_tasks.errors import ClusterError, ConfigError, PyodoError
from pyodo_tasks.paths import cache_root

from .deployed import DeployedComponent
from .liveness import Heartbeat, process_identity, reap_dead_runs
from .settings import Settings, namespace_name
from .teardown import (
    DELETE_TIMEOUT,
    delete_namespace,
    delete_run_objects,
    end_of_run,
    run_namespaces,
)

__all__ = [
    "CLUSTER_LOCK",
    "DeployRequest",
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
#: Bound on the first request that checks the cluster answers.
PROBE_TIMEOUT = 15.0
#: Components deployed at once when a session needs several (threads: the work is waiting).
DEPLOY_THREADS = 4

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
    verify: Callable[..., Any] = verify_sync


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
    #: Where this worker's own copies (``shared=False``) go: its own namespace under xdist,
    #: else ``namespace``.
    worker_namespace: str = ""

    def target(self) -> ResolvedTarget:
        return ResolvedTarget(
            kubeconfig=str(self.kubeconfig),
            context=self.context,
            namespace=self.namespace,
            namespace_explicit=True,
        )


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


def sweep(
    kubeconfig: str,
    context: str,
    run_id: str,
    shared_namespaces: Sequence[str] = (),
    timeout: float = DELETE_TIMEOUT,
    engine: Engine | None = None,
    *,
    wait: bool = True,
) -> list[str]:
    """Delete whatever is still labelled with ``run_id``: run by the xdist controller at the end.

    Workers delete their own namespaces; this catches a worker that crashed first, and the
    objects workers shared in one namespace (which no single worker may delete). ``wait=False``
    (``--pyodo-teardown=background``) does not wait for the run's own namespaces to be gone.
    """
    done: list[str] = []
    base = shared_namespaces[0] if shared_namespaces else "default"
    own = f"pyodo-{run_id}-"  # namespace_name(run_id, worker) of every worker
    with (engine or Engine()).kube(ResolvedTarget(kubeconfig, context, base)) as kube:
        deleted = run_namespaces(kube, run_id)
        for namespace in deleted:
            ephemeral = namespace.startswith(own)
            if delete_namespace(kube, namespace, timeout, wait=wait or not ephemeral):
                later = "" if wait or not ephemeral else " (terminating in the background)"
                done.append(f"deleted namespace/{namespace}{later}")
        # A namespace deleted above takes the run's objects with it: no wait on them there.
        for namespace in dict.fromkeys(n for n in shared_namespaces if n not in deleted):
            gone = delete_run_objects(kube, namespace, run_id, timeout)
            if gone:
                done.append(f"deleted {', '.join(gone)} in {namespace}")
    return done


@dataclass(frozen=True)
class DeployRequest:
    """One component a session needs: what :meth:`PyodoRun.deploy` takes, as a value."""

    path: Path
    image_overrides: Mapping[str, str] | None = None
    render_options: Mapping[str, Any] | None = None
    shared: bool = True

    def key(self) -> str:
        return json.dumps(
            [
                str(Path(self.path).resolve()),
                dict(self.image_overrides or {}),
                dict(self.render_options or {}),
                self.shared,
            ],
            sort_keys=True,
            default=str,
        )


class PyodoRun:
    """Everything one session (or one xdist worker) does with the cluster.

    Lazy: nothing touches the cluster until :meth:`cluster` or :meth:`deploy` is called.
    ``distributed`` is True in an xdist worker; ``run_dir`` is then the run's directory, the
    same for every worker (the controller names it), where shared deployments are coordinated
    and the cluster's coordinates are left for the controller's final sweep. ``holder`` names
    the process that cleans up at the end (the controller under xdist), for the liveness
    record (:mod:`.liveness`). ``state_dir`` keeps the file indexes of this process's own
    deployments.
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
        run_dir: Path | None = None,
        holder: str | None = None,
    ) -> None:
        self.settings = settings
        self.run_id = run_id
        self.worker = worker
        self.distributed = distributed
        self.state_dir = state_dir
        self.environ = os.environ if environ is None else environ
        self.on_ready = on_ready
        self.engine = engine or Engine()
        self.run_dir = run_dir
        self.holder = holder or process_identity()
        self._connection: tuple[PyodoCluster, Kube] | None = None
        self._cluster_error: PyodoError | None = None
        self._components: dict[str, DeployedComponent] = {}
        self._kubes: list[Kube] = []
        self._own_namespace: str | None = None  # created on first shared=False deploy
        self._run_namespace = False  # the namespace is the xdist run's, the controller's to delete
        self._heartbeat: Heartbeat | None = None
        self._ready_lock = threading.Lock()
        self._cleaned = False
        self.cleanup_log: list[str] = []

    # -- the cluster and the namespace -------------------------------------------------------
    def _provider_options(self) -> dict[str, Any]:
        s = self.settings
        if s.cluster == "kubeconfig":
            return {"kubeconfig": s.kubeconfig, "context": s.context}
        if s.cluster == "local":
            return {"progress": lambda message: log.info("[cluster] %s", message)}
        if s.cluster == "kind" and s.kind_image:
            return {"node_image": s.kind_image}
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
        info = self._cluster_up()
        target = Target(
            kubeconfig=str(info.kubeconfig), context=info.context, namespace=s.namespace
        ).resolve(self.environ)
        base = self.engine.kube(target)
        try:
            _probe(base, f"cluster {info.name} (context {info.context}, {info.server})")
            if self._first_in_run("gc"):
                self._collect_garbage(base, target.namespace)
            namespace, owns, shared = self._choose_namespace(base, target.namespace)
        finally:
            base.close()
        own = namespace_name(self.run_id, self.worker) if self._run_namespace else namespace
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
            worker_namespace=own,
        )
        self._leave_coordinates(cluster)
        if not (s.keep or s.reuse):
            self._start_heartbeat(cluster)
            # The last resort when the session ends without pytest's teardown (e.g. a second
            # Ctrl-C during it): cleanup() unregisters it once it ran.
            atexit.register(self._atexit_cleanup)
        return cluster, self.engine.kube(cluster.target())

    def _cluster_up(self) -> ClusterInfo:
        """Boot or check the cluster under a file lock (one boot for every process).

        Under xdist the first worker's answer is kept in the run's directory and the other
        workers read it: the cluster was checked a moment ago, and the local provider's
        check (packages, binaries, images, health) costs each worker a second, one at a time.
        """
        kept = self.run_dir / "cluster-info.json" if self.distributed and self.run_dir else None
        cache_root().mkdir(parents=True, exist_ok=True)
        start = time.monotonic()
        with FileLock(str(cache_root() / CLUSTER_LOCK), timeout=BOOT_LOCK_TIMEOUT):
            if kept is not None and kept.is_file():
                info = _info_from_json(kept.read_text())
                log.info("[cluster] %s checked by another worker of this run", info.context)
                return info
            provider = self.engine.provider(self.settings.cluster, **self._provider_options())
            info = provider.up()
            if kept is not None:
                kept.parent.mkdir(parents=True, exist_ok=True)
                kept.write_text(_info_to_json(info))
        log.info("[cluster] %s up in %.1fs", info.context, time.monotonic() - start)
        return info

    def _first_in_run(self, what: str) -> bool:
        """True in exactly one process of the run for ``what`` (always True without xdist):
        once-per-run work such as collecting the garbage of killed runs."""
        if not (self.distributed and self.run_dir):
            return True
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            os.close(os.open(self.run_dir / f"claimed-{what}", os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return False
        return True

    def _leave_coordinates(self, cluster: PyodoCluster) -> None:
        """Tell the xdist controller where to sweep, even if this worker crashes later."""
        if self.run_dir is None:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        coordinates = {
            "kubeconfig": str(cluster.kubeconfig),
            "context": cluster.context,
            "namespace": cluster.namespace,
            "shared_namespace": cluster.shared_namespace,
        }
        path = self.run_dir / f"cluster-{self.worker}.json"
        path.write_text(json.dumps(coordinates))

    def _start_heartbeat(self, cluster: PyodoCluster) -> None:
        heartbeat = Heartbeat(
            lambda: self.engine.kube(cluster.target()),
            self.run_id,
            cluster.namespace,
            self.labels(),
            self.holder,
        )
        try:
            self._heartbeat = heartbeat.start()
        except ClusterError as exc:
            heartbeat.stop()
            log.warning("[liveness] no liveness record (%s): only the expiry label applies", exc)

    def _collect_garbage(self, kube: Kube, namespace: str) -> None:
        """Delete what killed runs left behind, once per session: dead runs (by their liveness
        record) and expired objects (``doit gc`` does the latter too)."""
        for what, collect in (
            ("dead runs'", lambda: reap_dead_runs(kube, namespace, self.run_id)),
            ("expired", lambda: collect_expired(kube)),
        ):
            try:
                gone = collect()
            except ClusterError as exc:
                log.warning("[gc] %s", exc)
                continue
            if gone:
                log.info("[gc] deleted %s %s", what, ", ".join(gone))
                self.cleanup_log.append(f"gc deleted {what} {', '.join(gone)}")

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
        worker = "shared" if self.distributed else self.worker
        name = configured if explicit else namespace_name(self.run_id, worker)
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
        if self.distributed:
            # The run's namespace, shared by every worker: the controller deletes it.
            self._run_namespace = True
            return name, False, True
        return name, True, False

    def _own_copy_namespace(self, cluster: PyodoCluster) -> str:
        """The worker's own namespace for ``shared=False`` under xdist (created on first use)."""
        if self._own_namespace is None:
            with self.engine.kube(cluster.target()) as kube:
                kube.ensure_namespace(cluster.worker_namespace, self.labels())
            self._own_namespace = cluster.worker_namespace
        return self._own_namespace

    # -- components --------------------------------------------------------------------------
    def component(
        self,
        path: Path | str,
        *,
        image_overrides: Mapping[str, str] | None = None,
        render_options: Mapping[str, Any] | None = None,
        shared: bool = True,
    ) -> DeployedComponent:
        """The (cached) handle of a component in this run's namespace, not yet pushed.

        ``shared=False`` under xdist: the worker's own copy in its own namespace.
        """
        request = DeployRequest(Path(path).resolve(), image_overrides, render_options, shared)
        handle = self._components.get(request.key())
        if handle is None:
            handle = self._new_handle(request)
            self._components[request.key()] = handle
        return handle

    def _new_handle(self, request: DeployRequest) -> DeployedComponent:
        cluster, _ = self._connect()
        own = self.distributed and not request.shared
        if own and not self._run_namespace:
            raise ConfigError(
                f"{request.path}: shared=False needs a namespace per xdist worker, but this run "
                f"deploys into {cluster.namespace} (--pyodo-namespace, --pyodo-reuse or no "
                "right to create namespaces): drop shared=False or run without xdist"
            )
        namespace = self._own_copy_namespace(cluster) if own else cluster.namespace
        kube = self.engine.kube(replace(cluster.target(), namespace=namespace))
        self._kubes.append(kube)  # one connection per component: deploys may run in threads
        in_run_dir = self.run_dir is not None and self.distributed and not own
        explicit = cluster.shared_namespace and not self._run_namespace and not own
        if in_run_dir:
            state_dir: Path | None = self.run_dir / "state"  # type: ignore[operator]
        else:
            # Named namespaces keep the engine's state (other sessions and `doit push` read it);
            # an ephemeral namespace's state dies with the session.
            state_dir = None if explicit else self.state_dir
        component = self.engine.component(
            request.path,
            kube=kube,
            image_overrides=request.image_overrides,
            labels=self.labels(),
            render_options=request.render_options,
            state_dir=state_dir,
            environ=self.settings.component_environ(self.environ),
        )
        lock = None
        if in_run_dir:
            lock = self.run_dir / f"deploy-{component.key}.lock"  # type: ignore[operator]
        elif explicit:
            lock = component.state_dir / f"push-{component.key}.lock"
        return DeployedComponent(
            component,
            request.path,
            timeout=self.settings.timeout,
            lock=lock,
            force_apply=explicit and not self.settings.reuse,
            coordination=self.run_dir if in_run_dir else None,
            verifier=self.engine.verify,
            shared=not own,
            on_ready=self._ready,
        )

    def _ready(self, handle: DeployedComponent) -> None:
        if self.on_ready is not None:
            with self._ready_lock:  # user hooks need not be thread-safe
                self.on_ready(handle)

    def deploy(
        self,
        path: Path | str,
        *,
        image_overrides: Mapping[str, str] | None = None,
        render_options: Mapping[str, Any] | None = None,
        shared: bool = True,
    ) -> DeployedComponent:
        """Deploy a component once per session (per path, overrides and sharing) and return it;
        under xdist a shared one is deployed once per run (see :mod:`.deployed`)."""
        handle = self.component(
            path, image_overrides=image_overrides, render_options=render_options, shared=shared
        )
        return handle.ensure_deployed()

    def deploy_all(self, requests: Sequence[DeployRequest]) -> list[DeployedComponent]:
        """Deploy several components at once, one thread each (their deploys are independent).

        Never raises for a failed deploy: the handle remembers the reason and the test asking
        for it fails with it. Returns the handles, deployed or failed.
        """
        handles = [
            self.component(
                r.path,
                image_overrides=r.image_overrides,
                render_options=r.render_options,
                shared=r.shared,
            )
            for r in dict((r.key(), r) for r in requests).values()
        ]
        pending = [h for h in handles if not h.deployed and h.error is None]
        if len(pending) == 1:
            _deploy_quietly(pending[0])
        elif pending:
            with ThreadPoolExecutor(min(len(pending), DEPLOY_THREADS), "pyodo-deploy") as pool:
                list(pool.map(_deploy_quietly, pending))
        return handles

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
        if self._heartbeat is not None:
            self._heartbeat.stop()
        for handle in self._components.values():
            handle.close()
        for kube in self._kubes:
            kube.close()
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
        # Ephemeral (the run's own name) unless --pyodo-namespace named it.
        doomed = [(name, True) for name in (self._own_namespace,) if name is not None]
        if cluster.owns_namespace:
            doomed.append((ns, s.namespace is None))
        lines = end_of_run(kube, s, doomed, timeout=timeout)
        if cluster.owns_namespace:
            return lines
        if self._run_namespace:
            return [*lines, f"namespace/{ns} is shared by the workers: the controller deletes it"]
        if self.distributed:
            return [*lines, f"objects in shared namespace/{ns} are deleted by the xdist controller"]
        start = time.monotonic()
        gone = delete_run_objects(kube, ns, self.run_id, timeout)
        what = ", ".join(gone) or "nothing"
        return [*lines, f"deleted {what} in namespace/{ns} in {_since(start)}"]

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
            "components": [component_summary(h) for h in self._components.values()],
            "cleanup": list(self.cleanup_log),
        }


def component_summary(handle: DeployedComponent) -> dict[str, Any]:
    """What the summary, the header's end and the JUnit properties say about one component."""
    verified = handle.verified
    return {
        "name": handle.name,
        "namespace": handle.namespace,
        "path": str(handle.path),
        "image": handle.image,
        "pod": handle.pod,
        "shared": handle.shared,
        "attached": handle.attached,
        "push_seconds": handle.push_seconds,
        "verified": verified.summary() if verified is not None else None,
        "error": str(handle.error) if handle.error else None,
    }


def _info_to_json(info: ClusterInfo) -> str:
    return json.dumps({k: None if v is None else str(v) for k, v in vars(info).items()})


def _info_from_json(text: str) -> ClusterInfo:
    data = json.loads(text)

    def path(key: str) -> Path | None:
        return Path(data[key]) if data.get(key) else None

    return ClusterInfo(
        provider=data["provider"],
        name=data["name"],
        kubeconfig=Path(data["kubeconfig"]),
        context=data["context"],
        server=data.get("server") or "",
        restricted_kubeconfig=path("restricted_kubeconfig"),
        restricted_namespace=data.get("restricted_namespace"),
        kubectl=path("kubectl"),
    )


def _deploy_quietly(handle: DeployedComponent) -> None:
    try:
        handle.ensure_deployed()
    except Exception as exc:  # remembered by the handle; the test asking for it reports it
        log.info("[%s] deploy failed: %s", handle.name, exc)


def _since(start: float) -> str:
    return f"{time.monotonic() - start:.1f}s"
