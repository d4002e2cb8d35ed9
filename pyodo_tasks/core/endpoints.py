"""A component's endpoints: which one a caller means, its URLs, and waiting for it to answer.

The devfile names endpoints on containers; callers ask for one by name or take the first
reachable one. Inside the cluster an endpoint is the component's Service; from this process it is
a local port-forward, and :func:`wait_answering` waits until the app behind it answers at all
(any HTTP status counts: the app is up, its answer is the test's business).
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

from pyodo_tasks.core.devfile import Devfile, Endpoint
from pyodo_tasks.core.wait import wait_for
from pyodo_tasks.errors import ConfigError

__all__ = ["pick_endpoint", "scheme", "service_url", "wait_answering"]


def pick_endpoint(devfile: Devfile, name: str | None = None) -> Endpoint:
    """The endpoint called ``name``; by default the first one not ``exposure: none``."""
    endpoints = [e for c in devfile.containers for e in c.endpoints]
    if not endpoints:
        raise ConfigError(f"{devfile.path}: component {devfile.name} has no endpoints")
    if name is None:
        reachable = [e for e in endpoints if e.exposure != "none"] or endpoints
        return reachable[0]
    for endpoint in endpoints:
        if endpoint.name == name:
            return endpoint
    known = ", ".join(e.name for e in endpoints)
    raise ConfigError(f"{devfile.path}: no endpoint {name!r} (have: {known})")


def scheme(endpoint: Endpoint) -> str:
    return {"https": "https", "ws": "ws", "wss": "wss"}.get(endpoint.protocol, "http")


def service_url(endpoint: Endpoint, service: str, namespace: str) -> str:
    """The in-cluster address of an endpoint, through the component's Service."""
    return f"{scheme(endpoint)}://{service}.{namespace}.svc:{endpoint.target_port}"


def _answers(url: str, endpoint: Endpoint) -> tuple[bool | None, str]:
    host, port = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)
    try:
        if endpoint.protocol in ("http", "https"):
            with urllib.request.urlopen(url, timeout=5) as response:
                response.read(1)
            return True, "answered"
        with socket.create_connection((host, int(port)), timeout=5):
            return True, "connected"
    except urllib.error.HTTPError:
        return True, "answered"  # the app answered, even if with an error status
    except (OSError, urllib.error.URLError) as exc:
        return None, str(exc)


def wait_answering(url: str, endpoint: Endpoint, timeout: float) -> None:
    """Wait until the endpoint answers: any HTTP response for http(s), a TCP connect otherwise."""
    wait_for(lambda: _answers(url, endpoint), f"{url} to answer", timeout, interval=0.5)
