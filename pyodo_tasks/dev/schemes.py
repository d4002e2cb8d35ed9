"""Which scheme each forwarded ``https``/``wss`` endpoint really speaks, found off the loop.

Most registry stacks declare ``protocol: https`` for an app that serves plain HTTP (a route
terminates TLS on a cluster). ``Component.endpoint`` and ``pyodo_endpoint`` hand out the scheme a
TLS handshake through the forward finds (:func:`~pyodo_tasks.core.endpoints.probe_scheme`);
``doit dev`` shows the same URL. The probe can only decide once the app listens, which may be
seconds after a build (a JVM), so it runs in a thread of its own, bounded, and never holds up
the reconcile loop: when it decides, ``on_decided`` asks the loop to rewrite its status.

A decision holds for the session per ``(endpoint name, container port, declared protocol)``:
an app does not switch between TLS and plain on an edit. A probe that found nothing listening
before its deadline decides nothing; the next delivery starts another.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from pyodo_tasks.core.endpoints import PLAIN, probe_scheme
from pyodo_tasks.errors import PyodoError
from pyodo_tasks.failures import log_bug

__all__ = ["SchemeKey", "SchemeProber"]

log = logging.getLogger(__name__)

#: ``(endpoint name, container port, declared protocol)``.
SchemeKey = tuple[str, int, str]
#: How long one probe waits for the app to accept connections after a delivery.
PROBE_TIMEOUT = 120.0


class _Stopped(PyodoError):
    """The prober was closed while a probe waited (``doit dev`` is ending)."""


class SchemeProber:
    """Probes declared-TLS endpoints in background threads and remembers the answers."""

    def __init__(
        self,
        on_decided: Callable[[], None],
        *,
        timeout: float = PROBE_TIMEOUT,
        probe: Callable[..., str] | None = None,
    ) -> None:
        self._on_decided = on_decided
        self.timeout = timeout
        self._probe = probe or probe_scheme
        self._lock = threading.Lock()
        self._decided: dict[SchemeKey, str] = {}
        self._running: set[SchemeKey] = set()
        self._closed = threading.Event()

    def scheme(self, key: SchemeKey) -> str:
        """The scheme found for ``key``; "" while undecided (the declared one applies)."""
        with self._lock:
            return self._decided.get(key, "")

    def ensure(self, key: SchemeKey, url: str, endpoint: Any) -> None:
        """Start probing ``url`` unless the endpoint is not declared TLS, is decided already,
        or a probe of it is under way."""
        if endpoint.protocol not in PLAIN or self._closed.is_set():
            return
        with self._lock:
            if key in self._decided or key in self._running:
                return
            self._running.add(key)
        threading.Thread(
            target=self._run, args=(key, url, endpoint), name=f"pyodo-scheme-{key[0]}", daemon=True
        ).start()

    def _run(self, key: SchemeKey, url: str, endpoint: Any) -> None:
        found = ""
        try:
            found = self._probe(url, endpoint, self.timeout, check=self._check)
        except _Stopped:
            pass
        except PyodoError as exc:  # nothing listened in time: the next delivery asks again
            log.debug("scheme probe of %s: %s", url, exc)
        except Exception as exc:  # a thread of a loop meant to run all day: report, go on
            log_bug(log, f"probing {url}", exc)
        finally:
            with self._lock:
                self._running.discard(key)
                if found and not self._closed.is_set():
                    self._decided[key] = found.split("://", 1)[0]
        if found and not self._closed.is_set():
            self._on_decided()

    def _check(self) -> None:
        if self._closed.is_set():
            raise _Stopped("doit dev is stopping")

    def close(self) -> None:
        """Stop the probes under way at their next round; decide nothing more."""
        self._closed.set()
