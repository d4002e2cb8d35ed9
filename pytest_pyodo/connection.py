"""The cluster and namespace of one run: booted or connected once, the namespace chosen.

Where a run deploys, decided once by :meth:`RunConnection.connect`:

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

Connecting also leaves what the rest of the run relies on: the cluster's coordinates in the
run's directory (for the xdist controller's final sweep), the liveness record (:mod:`.liveness`)
and, once per run, the garbage of killed runs collected. A plain library (no pytest).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from pyodo_tasks import RUN_ID_LABEL, collect_expired, run_labels
from pyodo_tasks.cluster import ClusterInfo
from pyodo_tasks.core.kube import ResolvedTarget, Target
from pyodo_tasks.errors import ClusterError, PyodoError
from pyodo_tasks.paths import cache_root

from .engine import Engine
from .handoff import Handoff
from .liveness import Heartbeat, reap_dead_runs
from .settings import Settings, namespace_name

if TYPE_CHECKING:
    from pyodo_tasks.core.kube import Kube

__all__ = ["CLUSTER_LOCK", "PyodoCluster", "RunConnection"]

log = logging.getLogger("pytest_pyodo")

#: The lock every process booting the shared cluster takes (the cluster tests take it too).
CLUSTER_LOCK = "cluster-up.lock"
#: Bound on waiting for another process to finish booting the cluster.
BOOT_LOCK_TIMEOUT = 1800.0
#: Bound on the first request that checks the cluster answers.
PROBE_TIMEOUT = 15.0


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


@dataclass(eq=False)
class RunConnection:
    """One run's cluster and namespace, set up on first use and remembered (failure too).

    ``notes`` is the run's cleanup log (the garbage collected goes there); ``at_exit`` is the
    run's last-resort cleanup, registered with :mod:`atexit` once there is something to clean.
    ``established`` is the cluster once connected (:meth:`kube` its client, made on first
    use); ``run_namespace`` is True when the namespace is the xdist run's (the controller's to
    delete); ``own_namespace`` is the worker's own namespace once a ``shared=False`` deploy
    created it.
    """

    settings: Settings
    _: KW_ONLY
    run_id: str
    worker: str
    distributed: bool
    environ: Mapping[str, str]
    engine: Engine
    run_dir: Path | None
    holder: str
    notes: list[str]
    at_exit: Callable[[], None]
    #: True in the xdist controller's early deploy: leave the connection for the workers.
    hand_over: bool = False
    established: PyodoCluster | None = field(default=None, init=False)
    own_namespace: str | None = field(default=None, init=False)
    run_namespace: bool = field(default=False, init=False)
    heartbeat: Heartbeat | None = field(default=None, init=False)
    _kube: Kube | None = field(default=None, init=False, repr=False)
    _error: PyodoError | None = field(default=None, init=False, repr=False)

    def _provider_options(self) -> dict[str, Any]:
        s = self.settings
        if s.cluster == "kubeconfig":
            return {"kubeconfig": s.kubeconfig, "context": s.context}
        if s.cluster == "local":
            return {"progress": lambda message: log.info("[cluster] %s", message)}
        if s.cluster == "kind" and s.kind_image:
            return {"node_image": s.kind_image}
        return {}

    def connect(self) -> PyodoCluster:
        """Boot or connect to the cluster (once, under a file lock) and set up the namespace;
        under xdist, take the controller's connection when it made one (:mod:`.handoff`)."""
        if self.established is not None:
            return self.established
        if self._error is not None:
            raise ClusterError(
                f"the cluster could not be set up earlier in this session: {self._error}"
            ) from self._error
        try:
            self.established = self._handed_over() or self._setup()
        except PyodoError as exc:
            self._error = exc
            raise
        return self.established

    def kube(self) -> Kube:
        """The client, made on first use (a worker that only attaches never needs it)."""
        if self._kube is None:
            self._kube = self.engine.kube(self.connect().target())
        return self._kube

    def close(self) -> None:
        if self._kube is not None:
            self._kube.close()

    def _handed_over(self) -> PyodoCluster | None:
        """An xdist worker: what the controller's early deploy set up (cluster checked, garbage
        collected, namespace created, liveness record kept), once it ended; None if none."""
        if not (self.distributed and self.run_dir) or self.hand_over:
            return None
        handoff = Handoff(self.run_dir)
        handoff.wait(self.settings.timeout + BOOT_LOCK_TIMEOUT)
        data = handoff.read(self.settings)
        if data is None:
            return None
        self.run_namespace = bool(data["run_namespace"])
        info = _info_from_json(data["info"])
        cluster = _cluster_of(self, info, data["namespace"], data["owns"], data["shared"])
        self._leave_coordinates(cluster)
        if not (self.settings.keep or self.settings.reuse):
            atexit.register(self.at_exit)
        return cluster

    def _setup(self) -> PyodoCluster:
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
        cluster = _cluster_of(self, info, namespace, owns, shared)
        self._leave_coordinates(cluster)
        if self.hand_over and self.run_dir is not None:
            Handoff(self.run_dir).write(self.settings, _handoff_data(cluster, self.run_namespace))
        if not (s.keep or s.reuse):
            self._start_heartbeat(cluster)
            # The last resort when the session ends without pytest's teardown (e.g. a second
            # Ctrl-C during it): cleanup() unregisters it once it ran.
            atexit.register(self.at_exit)
        return cluster

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
            self.heartbeat = heartbeat.start()
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
                self.notes.append(f"gc deleted {what} {', '.join(gone)}")

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
            self.run_namespace = True
            return name, False, True
        return name, True, False

    def own_copy_namespace(self, cluster: PyodoCluster) -> str:
        """The worker's own namespace for ``shared=False`` under xdist (created on first use)."""
        if self.own_namespace is None:
            with self.engine.kube(cluster.target()) as kube:
                kube.ensure_namespace(cluster.worker_namespace, self.labels())
            self.own_namespace = cluster.worker_namespace
        return self.own_namespace


def _cluster_of(
    conn: RunConnection, info: ClusterInfo, namespace: str, owns: bool, shared: bool
) -> PyodoCluster:
    """The run's cluster, as ``conn``'s process sees it (its worker name and own namespace)."""
    own = namespace_name(conn.run_id, conn.worker) if conn.run_namespace else namespace
    return PyodoCluster(
        provider=info.provider,
        name=info.name,
        kubeconfig=Path(info.kubeconfig),
        context=info.context,
        namespace=namespace,
        server=info.server,
        run_id=conn.run_id,
        worker=conn.worker,
        owns_namespace=owns,
        shared_namespace=shared,
        info=info,
        worker_namespace=own,
    )


def _handoff_data(cluster: PyodoCluster, run_namespace: bool) -> dict[str, Any]:
    """What a worker needs to make ``cluster`` its own (:meth:`RunConnection._handed_over`)."""
    return {
        "namespace": cluster.namespace,
        "owns": cluster.owns_namespace,
        "shared": cluster.shared_namespace,
        "run_namespace": run_namespace,
        "info": _info_to_json(cluster.info),
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
