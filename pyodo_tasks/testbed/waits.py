"""Bounded waits and small probes used while booting the cluster.

Every wait is bounded on ``time.monotonic()`` and raises :class:`WaitTimeout` naming what it
waited for and the last state it saw.
"""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pyodo_tasks.errors import WaitTimeout

T = TypeVar("T")


def wait_for(
    probe: Callable[[], tuple[T | None, str]],
    what: str,
    timeout: float,
    interval: float = 0.25,
    check: Callable[[], None] | None = None,
) -> T:
    """Call ``probe`` until it returns a non-None value; ``probe`` also returns its state text.

    ``check`` runs each round and may raise (e.g. the daemon being waited on has died).
    """
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        value, last = probe()
        if value is not None:
            return value
        if check is not None:
            check()
        if time.monotonic() >= deadline:
            raise WaitTimeout(what, timeout, last)
        time.sleep(interval)


def https_get(
    url: str, ca: Path, cert: Path | None = None, key: Path | None = None, timeout: float = 5.0
) -> tuple[int, str]:
    """GET ``url`` over TLS with our CA (and a client cert); return (status, body) or (0, err)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert and key:
        ctx.load_cert_chain(str(cert), str(key))
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(getattr(exc, "reason", exc))


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """Plain-HTTP GET (etcd's and kubelet's loopback health endpoints)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(getattr(exc, "reason", exc))
