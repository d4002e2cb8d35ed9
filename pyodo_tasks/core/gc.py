"""Delete what a killed run left behind: labelled objects and namespaces past their expiry.

Every object a test run creates carries ``pyodo.dev/run-id`` and ``pyodo.dev/expires`` (Unix
seconds) labels. A CI job killed before its teardown leaves them behind; the next session (and
``doit gc``, whose task is :mod:`pyodo_tasks.tasks.gc`) deletes whatever has expired. Labels,
not annotations, so one selector finds them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pyodo_tasks.core.render import MANAGED_BY
from pyodo_tasks.errors import ClusterError

if TYPE_CHECKING:
    from pyodo_tasks.core.kube import Kube

__all__ = ["EXPIRES_LABEL", "RUN_ID_LABEL", "collect_expired", "run_labels"]

log = logging.getLogger(__name__)

RUN_ID_LABEL = "pyodo.dev/run-id"
EXPIRES_LABEL = "pyodo.dev/expires"
MANAGED_SELECTOR = f"app.kubernetes.io/managed-by={MANAGED_BY},{EXPIRES_LABEL}"


def run_labels(run_id: str, ttl_seconds: float, now: float | None = None) -> dict[str, str]:
    """The labels that tie an object to a run and say when it may be collected."""
    expires = int((time.time() if now is None else now) + ttl_seconds)
    return {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        RUN_ID_LABEL: run_id,
        EXPIRES_LABEL: str(expires),
    }


def _expired(labels: Mapping[str, str] | None, now: float) -> bool:
    try:
        return int((labels or {}).get(EXPIRES_LABEL, "")) < now
    except ValueError:
        return False


def collect_expired(kube: Kube, now: float | None = None, namespaces: bool = True) -> list[str]:
    """Delete expired pyodo namespaces (when allowed) and expired objects in kube's namespace.

    Returns what was deleted as ``Kind/name``. A user without cluster-wide rights (the
    restricted kubeconfig) still gets its own namespace cleaned.
    """
    now = time.time() if now is None else now
    gone: list[str] = []
    if namespaces:
        try:
            items = kube.namespaces(MANAGED_SELECTOR)
        except ClusterError as exc:
            if exc.status is None:
                raise  # no answer at all: the caller reports it
            log.debug("cannot list namespaces: %s", exc)  # forbidden for namespace-scoped users
            items = []
        for ns in items:
            name = ns.metadata.name
            live = ns.status.phase != "Terminating"
            if live and _expired(ns.metadata.labels, now) and kube.delete_namespace(name):
                gone.append(f"Namespace/{name}")
    try:
        objects = kube.list_labelled(MANAGED_SELECTOR)
    except ClusterError as exc:
        log.warning("gc: %s", exc)
        return gone
    for obj in objects:
        meta = obj["metadata"]
        if _expired(meta.get("labels"), now) and kube.delete(obj["kind"], meta["name"]):
            gone.append(f"{obj['kind']}/{meta['name']}")
    return gone
