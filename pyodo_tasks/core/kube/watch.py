"""Watches: a pause for :func:`~pyodo_tasks.core.wait.wait_for` that a change ends early, and
the dev loop's long-running list-then-watch threads.

**ChangePause.**

A wait polls its probe; between two probes it pauses. With a :class:`ChangePause` the pause is
a short watch on the objects the probe reads: a change (a pod turning Running, a namespace
going away) ends it at once, so the next probe sees the change without waiting for the next
poll, and nothing changing costs no more than the sleep did. The wait stays bounded by its
deadline and its probe; the watch only decides *when* to probe. Any failure of the watch
(403 for a user without list rights, 410 Gone, no answer) makes it fall back to sleeping.

**ResourceWatch.** The official client's ``Watch.stream`` does not retry after ``410 Gone``
when ``timeout_seconds`` is set (FINDINGS), and a watch with no timeout can hang on a dead
connection forever. So each watch asks the server to end it after ``timeout_seconds``, reads
with a client-side timeout a little longer, continues from the last ``resourceVersion`` it saw,
relists on 410, and backs off (bounded) while the cluster is unreachable. Handlers receive
``LISTED`` for every object found by a (re)list, then ``ADDED``/``MODIFIED``/``DELETED``; they
must tolerate repeats.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from pyodo_tasks.core.kube.errors import translate, translated_types
from pyodo_tasks.failures import log_bug

__all__ = ["ChangePause", "Handler", "ResourceWatch"]

Handler = Callable[[str, Any], None]

log = logging.getLogger(__name__)


class ChangePause:
    """``pause(seconds)``: return after ``seconds`` or at the first change of the watched list."""

    def __init__(
        self,
        list_func: Callable[..., Any],
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> None:
        self._list = list_func
        self._args: tuple[str, ...] = (namespace,) if namespace else ()
        self._selectors = {
            k: v
            for k, v in (("label_selector", label_selector), ("field_selector", field_selector))
            if v
        }
        self._version: str | None = None
        #: Set once the watch failed in a way a retry will not fix (e.g. 403): sleep from then on.
        self.sleeping = False

    def __call__(self, seconds: float) -> None:
        if self.sleeping or seconds <= 0:
            time.sleep(max(seconds, 0))
            return
        started = time.monotonic()
        try:
            self._watch(seconds)
        except Exception as exc:  # a watch is an optimisation: any failure means "just sleep"
            status = getattr(exc, "status", None)
            if status in (401, 403, 404):
                self.sleeping = True
            log.debug("watch pause fell back to sleeping: %s", exc)
            self._version = None
            time.sleep(max(0.0, seconds - (time.monotonic() - started)))

    def _watch(self, seconds: float) -> None:
        if self._version is None:
            listing = self._list(*self._args, _request_timeout=10, **self._selectors)
            self._version = listing.metadata.resource_version
        stream = watch.Watch()
        try:
            events = stream.stream(
                self._list,
                *self._args,
                resource_version=self._version,
                timeout_seconds=max(1, math.ceil(seconds)),
                # The read timeout ends a quiet pause on time (the server's is whole seconds).
                _request_timeout=(5, seconds),
                **self._selectors,
            )
            for event in events:
                if event["type"] == "ERROR":
                    self._version = None  # e.g. 410 Gone: list again next time
                else:
                    self._version = event["object"].metadata.resource_version
                return
        except Exception as exc:
            if _is_read_timeout(exc):
                return  # nothing changed within ``seconds``
            raise
        finally:
            stream.stop()


def _is_read_timeout(exc: BaseException) -> bool:
    """urllib3 reports a quiet stream as a read timeout, sometimes wrapped in ProtocolError."""
    seen: BaseException | None = exc
    while seen is not None:
        name = type(seen).__name__
        if name in ("ReadTimeoutError", "TimeoutError", "timeout") or "timed out" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


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
        kubeconfig: str = "",
    ) -> None:
        super().__init__(name=f"pyodo-dev-watch-{name}", daemon=True)
        self.what = f"watch {name}"
        #: Named when the API server refuses its credentials (401).
        self.kubeconfig = kubeconfig
        #: The failure last reported, until the watch answers again.
        self._failing = ""
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
                self._answering()
            except ApiException as exc:
                if exc.status == 410:
                    version = None  # too old: relist and carry on from there
                    continue
                if self._halt.is_set():
                    return
                delay = self._retry_after(exc, delay)
            except Exception as exc:  # connection refused/reset, read timeout: the cluster blinked
                if self._halt.is_set():
                    return  # the pool was closed under us at shutdown
                delay = self._retry_after(exc, delay)

    def _retry_after(self, exc: Exception, delay: float) -> float:
        """Wait ``delay`` before the next try; the next delay. A failure is said once, in the
        translation table's words (a 401 names the kubeconfig), not at every retry: an API
        server gone for minutes, or a revoked credential, is one line, then one when it is over."""
        if isinstance(exc, translated_types()):
            said = str(translate(exc, self.what, self.kubeconfig))
        else:
            said = f"{self.what}: {exc}"
        if said != self._failing:
            log.warning("%s; retrying every %gs at most", said, self.backoff[1])
            self._failing = said
        else:
            log.debug("%s; retrying in %.1fs", said, delay)
        self._halt.wait(delay)
        return min(delay * 2, self.backoff[1])

    def _answering(self) -> None:
        if self._failing:
            log.warning("%s: answering again", self.what)
            self._failing = ""

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
