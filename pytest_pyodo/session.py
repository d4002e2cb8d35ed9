"""One test run's use of a cluster: boot it once, isolate the run, deploy once, clean up.

A plain library (it never imports pytest, like pytest-httpserver's ``httpserver.py``), so it can
be driven and tested without the plugin. The plugin builds one :class:`PyodoRun` per session
(per xdist worker) and calls :meth:`PyodoRun.cleanup` at the end.

The run is three parts, each a module of its own: where it deploys, decided once
(:mod:`.connection`: the cluster, the namespace and its rules, the liveness record, the
garbage of killed runs), the components it deploys (:mod:`.deployments`, each one a
:mod:`.deployed` handle) and its end (:meth:`PyodoRun.cleanup` here, with the deletions of
:mod:`.teardown`).

When a namespace is shared by xdist workers, they share each deployment too (the first worker
deploys under a file lock, the others attach: see :mod:`.deployed`), and the controller deletes
the run's objects once every worker is done (:func:`sweep`). Every run keeps a liveness record
(:mod:`.liveness`) so that the next session reaps a killed run at once, not after its expiry.
"""

from __future__ import annotations

import atexit
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pyodo_tasks import RUN_ID_LABEL
from pyodo_tasks.core.kube import ResolvedTarget
from pyodo_tasks.errors import PyodoError

from .connection import CLUSTER_LOCK, PyodoCluster, RunConnection
from .deployed import DeployedComponent
from .deployments import Deployments, DeployRequest, component_summary
from .engine import Engine
from .liveness import process_identity
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


class PyodoRun:
    """Everything one session (or one xdist worker) does with the cluster.

    Lazy: nothing touches the cluster until :meth:`cluster` or :meth:`deploy` is called.
    ``distributed`` is True in an xdist worker; ``run_dir`` is then the run's directory, the
    same for every worker (the controller names it), where shared deployments are coordinated
    and the cluster's coordinates are left for the controller's final sweep. ``holder`` names
    the process that cleans up at the end (the controller under xdist), for the liveness
    record (:mod:`.liveness`). ``state_dir`` keeps the file indexes of this process's own
    deployments.

    The cluster and namespace are :mod:`.connection`'s, the components :mod:`.deployments`';
    the run holds them together and ends them (:meth:`cleanup`, :meth:`summary`).
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
        hand_over: bool = False,
    ) -> None:
        self.settings = settings
        self._cleaned = False
        self.cleanup_log: list[str] = []
        # The run's identity (run id, worker, run dir, holder) is kept once, by the connection.
        self._connection = RunConnection(
            settings,
            run_id=run_id,
            worker=worker,
            distributed=distributed,
            environ=os.environ if environ is None else environ,
            engine=engine or Engine(),
            run_dir=run_dir,
            holder=holder or process_identity(),
            notes=self.cleanup_log,
            at_exit=self._atexit_cleanup,
            # The xdist controller's early deploy leaves its connection to the workers.
            hand_over=hand_over,
        )
        self._deployments = Deployments(self._connection, state_dir=state_dir, on_ready=on_ready)

    # -- the cluster and the namespace -------------------------------------------------------
    def cluster(self) -> PyodoCluster:
        """Boot or connect to the cluster (once, under a file lock) and set up the namespace."""
        return self._connection.connect()

    def labels(self) -> dict[str, str]:
        """Labels on everything this run creates (none when reusing a deployment)."""
        return self._connection.labels()

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
        return self._deployments.component(request)

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
        return self._deployments.deploy_all(requests)

    @property
    def components(self) -> list[DeployedComponent]:
        return self._deployments.handles

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
        if self._connection.heartbeat is not None:
            self._connection.heartbeat.stop()
        self._deployments.close()
        if self._connection.established is None:
            return []
        cluster = self._connection.established
        lines: list[str] = []
        try:
            lines = self._delete(cluster, timeout)
        except PyodoError as exc:
            lines = [f"cleanup failed: {exc} (`doit gc` deletes it after its expiry)"]
            log.warning("[cleanup] %s", exc)
        finally:
            self._connection.close()
        self.cleanup_log.extend(lines)
        return lines

    def _delete(self, cluster: PyodoCluster, timeout: float) -> list[str]:
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
        own_namespace = self._connection.own_namespace
        doomed = [(name, True) for name in (own_namespace,) if name is not None]
        if cluster.owns_namespace:
            doomed.append((ns, s.namespace is None))
        # The client only when there is something to delete (an attaching worker has nothing).
        lines = end_of_run(self._connection.kube(), s, doomed, timeout=timeout) if doomed else []
        if cluster.owns_namespace:
            return lines
        if self._connection.run_namespace:
            return [*lines, f"namespace/{ns} is shared by the workers: the controller deletes it"]
        if self._connection.distributed:
            return [*lines, f"objects in shared namespace/{ns} are deleted by the xdist controller"]
        start = time.monotonic()
        gone = delete_run_objects(self._connection.kube(), ns, self._connection.run_id, timeout)
        what = ", ".join(gone) or "nothing"
        return [*lines, f"deleted {what} in namespace/{ns} in {_since(start)}"]

    def _atexit_cleanup(self) -> None:
        self.cleanup(timeout=60.0)

    def summary(self) -> dict[str, Any]:
        """A JSON-able account of the run (sent from xdist workers to the controller)."""
        cluster = self._connection.established
        return {
            "run_id": self._connection.run_id,
            "worker": self._connection.worker,
            "kubeconfig": str(cluster.kubeconfig) if cluster else None,
            "context": cluster.context if cluster else None,
            "namespace": cluster.namespace if cluster else None,
            "shared_namespace": bool(cluster and cluster.shared_namespace),
            "components": [component_summary(h) for h in self._deployments.handles],
            "cleanup": list(self.cleanup_log),
        }


def _since(start: float) -> str:
    return f"{time.monotonic() - start:.1f}s"
