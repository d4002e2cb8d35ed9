"""A pause for :func:`pyodo_tasks.core.wait.wait_for` that a watch event ends early.

A wait polls its probe; between two probes it pauses. With a :class:`ChangePause` the pause is
a short watch on the objects the probe reads: a change (a pod turning Running, a namespace
going away) ends it at once, so the next probe sees the change without waiting for the next
poll, and nothing changing costs no more than the sleep did. The wait stays bounded by its
deadline and its probe; the watch only decides *when* to probe. Any failure of the watch
(403 for a user without list rights, 410 Gone, no answer) makes it fall back to sleeping.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

from kubernetes import watch

__all__ = ["ChangePause"]

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
