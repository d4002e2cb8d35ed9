"""List-then-watch threads on the cluster, bounded and self-healing.

The official client's ``Watch.stream`` does not retry after ``410 Gone`` when ``timeout_seconds``
is set (FINDINGS), and a watch with no timeout can hang on a dead connection forever. So each
watch here asks the server to end it after ``timeout_seconds``, reads with a client-side timeout
a little longer, continues from the last ``resourceVersion`` it saw, relists on 410, and backs
off (bounded) while the cluster is unreachable. Handlers receive ``LISTED`` for every object
found by a (re)list, then ``ADDED``/``MODIFIED``/``DELETED``; they must tolerate repeats.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from pyodo_tasks.failures import log_bug

__all__ = ["PodTracker", "ResourceWatch", "pod_signature"]

log = logging.getLogger(__name__)

Handler = Callable[[str, Any], None]


class ResourceWatch(threading.Thread):
    """Watch one list function (e.g. ``core.list_namespaced_pod``) in one namespace."""

    def __init__(
        self,
        name: str,
        list_func: Callable[..., Any],
        namespace: str,
        handler: Handler,
        stop: threading.Event,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int = 30,
        backoff: tuple[float, float] = (0.5, 10.0),
    ) -> None:
        super().__init__(name=f"pyodo-dev-watch-{name}", daemon=True)
        self.list_func = list_func
        self.namespace = namespace
        self.handler = handler
        self._halt = stop
        self._selectors: dict[str, str] = {}
        if label_selector:
            self._selectors["label_selector"] = label_selector
        if field_selector:
            self._selectors["field_selector"] = field_selector
        self.timeout_seconds = timeout_seconds
        self.backoff = backoff
        self._watch: watch.Watch | None = None
        #: Set after the first successful list: from then on no change is missed.
        self.synced = threading.Event()

    def run(self) -> None:
        version: str | None = None
        delay = self.backoff[0]
        while not self._halt.is_set():
            try:
                if version is None:
                    version = self._relist()
                version = self._watch_from(version)
                delay = self.backoff[0]
            except ApiException as exc:
                if exc.status == 410:
                    version = None  # too old: relist and carry on from there
                    continue
                if self._halt.is_set():
                    return
                log.warning(
                    "%s: %s %s; retrying in %.1fs", self.name, exc.status, exc.reason, delay
                )
                self._halt.wait(delay)
                delay = min(delay * 2, self.backoff[1])
            except Exception as exc:  # connection refused/reset, read timeout: the cluster blinked
                if self._halt.is_set():
                    return  # the pool was closed under us at shutdown
                log.warning("%s: %s; retrying in %.1fs", self.name, exc, delay)
                self._halt.wait(delay)
                delay = min(delay * 2, self.backoff[1])

    def _relist(self) -> str:
        listing = self.list_func(self.namespace, _request_timeout=30, **self._selectors)
        for item in listing.items:
            self._deliver("LISTED", item)
        self.synced.set()
        return listing.metadata.resource_version

    def _watch_from(self, version: str) -> str | None:
        """One bounded watch; returns the version to continue from (None: relist)."""
        self._watch = watch.Watch()
        stream = self._watch.stream(
            self.list_func,
            self.namespace,
            resource_version=version,
            timeout_seconds=self.timeout_seconds,
            _request_timeout=(10, self.timeout_seconds + 15),
            **self._selectors,
        )
        for event in stream:
            if self._halt.is_set():
                self._watch.stop()
                break
            if event["type"] == "ERROR":
                raw = event.get("raw_object") or {}
                if raw.get("code") == 410:
                    return None
                log.warning("%s: watch error %s", self.name, raw.get("message"))
                continue
            obj = event["object"]
            version = obj.metadata.resource_version or version
            self._deliver(event["type"], obj)
        return version

    def _deliver(self, kind: str, obj: Any) -> None:
        try:
            self.handler(kind, obj)
        except Exception as exc:  # a handler bug must not kill the watch
            log_bug(log, f"{self.name}: handling {kind}", exc)

    def stop(self, timeout: float = 1.0) -> None:
        """Ask the watch to end; it is a daemon, so a slow server never holds up exit."""
        self._halt.set()
        if self._watch is not None:
            self._watch.stop()
        self.join(timeout)


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
