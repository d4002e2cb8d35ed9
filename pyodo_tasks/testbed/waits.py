"""Waits and small probes used while booting the cluster.

Every wait goes through pyodo's one bounded wait, :func:`pyodo_tasks.core.wait.wait_for`
(re-exported here): bounded on ``time.monotonic()``, it raises :class:`WaitTimeout` naming what
it waited for and the last state it saw. This module adds the probes the boot waits use: HTTP
health endpoints, and containerd's socket (the cluster's own and the node image's pre-load one).
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from pathlib import Path

from pyodo_tasks import host
from pyodo_tasks.core.wait import wait_for

__all__ = ["containerd_answers", "http_get", "https_get", "wait_for"]


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


def containerd_answers(socket: Path) -> tuple[bool | None, str]:
    """A :func:`wait_for` probe: True once containerd answers ``ctr version`` on ``socket``;
    otherwise None and what was seen (no socket yet, or ctr's exit status and error)."""
    if not socket.is_socket():
        return None, "no socket yet"
    answer = host.run(
        ["ctr", "--address", str(socket), "version"],
        timeout=10,
        what=f"asking containerd on {socket} its version",
        check=False,
    )
    if answer.returncode == 0:
        return True, "answering"
    return None, f"`ctr version` exited {answer.returncode}: {answer.stderr.strip()[-200:]}"
