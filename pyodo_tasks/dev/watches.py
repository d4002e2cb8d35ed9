"""What the dev loop watches: pods (deduplicated into "something relevant changed") and, through
:class:`~pyodo_tasks.core.kube.watch.ResourceWatch` (the cluster side lives in the engine's
``core.kube``), its spec and status ConfigMaps.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from pyodo_tasks.core.kube.watch import ResourceWatch

__all__ = ["PodTracker", "ResourceWatch", "pod_signature"]

log = logging.getLogger(__name__)

Handler = Callable[[str, Any], None]


def pod_signature(pod: Any) -> tuple[Any, ...]:
    """What about a pod matters to the loop: identity, phase, deletion, readiness, restarts.

    Pods are MODIFIED often for things the loop does not care about (condition timestamps,
    IPs); reconciling on each would be wasted work. Restart counts are in, because a restarted
    app container may have lost state the loop must re-establish.
    """
    status = pod.status
    ready = any(c.type == "Ready" and c.status == "True" for c in (status.conditions or []))
    restarts = tuple(
        (c.name, c.restart_count) for c in (status.container_statuses or []) if c is not None
    )
    return (
        pod.metadata.uid,
        status.phase,
        pod.metadata.deletion_timestamp is not None,
        ready,
        restarts,
    )


class PodTracker:
    """Turns pod watch events into "something relevant changed" calls, deduplicated."""

    def __init__(self, on_change: Callable[[str], None]) -> None:
        self.on_change = on_change
        self._seen: dict[str, tuple[Any, ...]] = {}
        self._lock = threading.Lock()

    def __call__(self, kind: str, pod: Any) -> None:
        uid = pod.metadata.uid
        with self._lock:
            if kind == "DELETED":
                self._seen.pop(uid, None)
                changed = True
            else:
                signature = pod_signature(pod)
                changed = self._seen.get(uid) != signature
                self._seen[uid] = signature
        if changed:
            self.on_change(f"{kind.lower()} pod/{pod.metadata.name}")
