"""The end of a run: what it deletes, and whether it waits for it to be gone.

``--pyodo-teardown`` (:data:`TEARDOWN_MODES`) decides the wait for the run's own namespaces
(``pyodo-<run id>-main``, ``-shared``, ``-gw<N>``), whose names no later session uses:

- ``background`` (the default): ask for the namespace's deletion, delete its pods so they stop
  now rather than when the namespace controller reaches them, and return. From the deletion
  request on the namespace is ``Terminating`` and the namespace controller finishes it whether
  this process lives or not; a run killed before that request keeps its liveness record, and
  the next session reaps it (:func:`pytest_pyodo.liveness.reap_dead_runs`).
- ``wait``: as before, wait (bounded, :data:`DELETE_TIMEOUT`) until the namespace is gone.

A namespace named with ``--pyodo-namespace`` and the run's objects in a shared namespace are
always waited for: the next session uses the same names, and an apply into a terminating
namespace, or onto an object being deleted, would fail or vanish. A plain library: no pytest.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pyodo_tasks import RUN_ID_LABEL
from pyodo_tasks.errors import ClusterError

from .settings import TEARDOWN_MODES, Settings

if TYPE_CHECKING:
    from pyodo_tasks.core.kube import Kube


__all__ = [
    "DELETE_TIMEOUT",
    "TEARDOWN_MODES",
    "delete_namespace",
    "delete_run_objects",
    "end_of_run",
    "run_namespaces",
    "stop_pods",
]

#: Bound on waiting for a namespace or the run's objects to be gone after deleting them.
DELETE_TIMEOUT = 180.0
#: Every pod pyodo renders carries it (run labels stay off the pod template, see render).
_PYODO_PODS = "app.kubernetes.io/managed-by=pyodo"


def stop_pods(kube: Kube, namespace: str) -> list[str]:
    """Delete pyodo's pods in a namespace being deleted: their containers get SIGTERM now.

    Nothing recreates them: a terminating namespace admits no new pod. Best effort (the
    namespace controller deletes them anyway): a failure is not the run's.
    """
    try:
        names = [pod.metadata.name for pod in kube.pods(_PYODO_PODS, namespace)]
        return [f"Pod/{name}" for name in names if kube.delete_pod(name, namespace)]
    except ClusterError:
        return []


def delete_namespace(
    kube: Kube, name: str, timeout: float = DELETE_TIMEOUT, *, wait: bool = True
) -> bool:
    """Delete a namespace; False when it was already gone.

    ``wait``: until it is gone (bounded); else its pods are deleted too and it finishes
    terminating in the background.
    """
    if not kube.delete_namespace(name):
        return False
    if wait:
        kube.wait_namespace_gone(name, timeout)
    else:
        stop_pods(kube, name)
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


def waits(settings: Settings) -> bool:
    """Whether the run's own namespaces are waited for (``--pyodo-teardown=wait``)."""
    return settings.teardown == "wait"


def _deleted(name: str, start: float, wait: bool) -> str:
    took = f"{time.monotonic() - start:.1f}s"
    if wait:
        return f"deleted namespace/{name} in {took}"
    return f"deleted namespace/{name} in {took} (terminating in the background)"


def end_of_run(
    kube: Kube,
    settings: Settings,
    namespaces: Sequence[tuple[str, bool]],
    *,
    timeout: float = DELETE_TIMEOUT,
) -> list[str]:
    """Delete ``namespaces`` (``(name, ephemeral)`` pairs, in order); the summary's lines.

    An ephemeral namespace (the run's own name) follows ``settings.teardown``; another one
    (``--pyodo-namespace``, created by this session) is always waited for.
    """
    lines = []
    for name, ephemeral in namespaces:
        start = time.monotonic()
        wait = waits(settings) or not ephemeral
        delete_namespace(kube, name, timeout, wait=wait)
        lines.append(_deleted(name, start, wait))
    return lines
