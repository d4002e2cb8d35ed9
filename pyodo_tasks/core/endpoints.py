"""A component's endpoints: which one a caller means, its URLs, and waiting for it to answer.

The devfile names endpoints on containers; callers ask for one by name or take the first
reachable one. Inside the cluster an endpoint is the component's Service; from this process it is
a local port-forward, and :func:`wait_answering` waits until the app behind it answers at all
(any HTTP status counts: the app is up, its answer is the test's business).

``protocol: https``/``wss`` in a devfile often describes the cluster's route, which terminates
TLS, while the app itself speaks plain HTTP (27 of the registry's 32 stacks). So for those
endpoints :func:`wait_answering` tries a TLS handshake through the forward and hands out the
scheme the app actually speaks, saying so once when it differs from the devfile.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from pyodo_tasks.core.devfile import Devfile, Endpoint
from pyodo_tasks.core.wait import wait_for
from pyodo_tasks.errors import ConfigError

__all__ = [
    "matching_url",
    "pick_endpoint",
    "probe_scheme",
    "scheme",
    "service_url",
    "speaks_tls",
    "wait_answering",
]

log = logging.getLogger(__name__)
#: Fallback scheme when a TLS-declared endpoint answers in the clear.
PLAIN = {"https": "http", "wss": "ws"}


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


def shown_scheme(endpoint: Endpoint) -> str:
    """The scheme ``doit forward`` shows a forwarded endpoint with: :func:`scheme`, except that
    a ``tcp``/``udp`` endpoint says so (it is not necessarily HTTP)."""
    return endpoint.protocol if endpoint.protocol in ("tcp", "udp") else scheme(endpoint)


def service_url(endpoint: Endpoint, service: str, namespace: str) -> str:
    """The in-cluster address of an endpoint, through the component's Service."""
    return f"{scheme(endpoint)}://{service}.{namespace}.svc:{endpoint.target_port}"


def _unverified() -> ssl.SSLContext:
    """TLS without verification: a dev app's certificate is self-signed; we only ask if the
    app answers, never trust what it says."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


#: How long a TLS handshake may take before the app counts as plain: a plain HTTP server that
#: reads the ClientHello as the start of a request line waits for the rest and never answers.
#: Through pyodo's forward a handshake with a TLS app takes well under this (the forward's
#: websocket is up in tens of milliseconds on the local cluster).
HANDSHAKE_TIMEOUT = 2.0


def speaks_tls(host: str, port: int, timeout: float = HANDSHAKE_TIMEOUT) -> bool | None:
    """Does the app at host:port complete a TLS handshake? None when nothing accepts yet.

    A plain HTTP server answers a ClientHello with an error page (an SSL error); one that
    waits for more is plain too: the whole handshake is bounded by ``timeout``, not each read,
    so a stalled one fails fast. A connection closed without a byte is no answer: through a
    port-forward that is what a not-yet-listening app looks like.
    """
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError:
        return None
    with sock:
        sock.setblocking(False)
        try:
            tls = _unverified().wrap_socket(
                sock, server_hostname=host, do_handshake_on_connect=False
            )
        except OSError:
            return None
        with tls:
            return _handshake(tls, deadline)


def _handshake(tls: ssl.SSLSocket, deadline: float) -> bool | None:
    """Drive a non-blocking handshake until it completes, fails or ``deadline`` passes."""
    while True:
        try:
            tls.do_handshake()
            return True
        except ssl.SSLWantReadError:
            readable, writable = [tls], []
        except ssl.SSLWantWriteError:
            readable, writable = [], [tls]
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionError):
            # Closed without a word: the forward found nothing listening yet. Ask again.
            return None
        except ssl.SSLError:
            return False
        except OSError:
            return None
        left = deadline - time.monotonic()
        if left <= 0:
            return False  # stalled: a plain server waiting for the rest of a request line
        select.select(readable, writable, [], left)


def _host_port(url: str) -> tuple[str, int]:
    host, port = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)
    return host, int(port)


def _answers(url: str, endpoint: Endpoint) -> tuple[bool | None, str]:
    host, port = _host_port(url)
    try:
        if url.startswith(("http://", "https://")):
            context = _unverified() if url.startswith("https://") else None
            with urllib.request.urlopen(url, timeout=5, context=context) as response:
                response.read(1)
            return True, "answered"
        with socket.create_connection((host, port), timeout=5):
            return True, "connected"
    except urllib.error.HTTPError:
        return True, "answered"  # the app answered, even if with an error status
    except (OSError, urllib.error.URLError) as exc:
        return None, str(exc)


def _matching_scheme(url: str, endpoint: Endpoint) -> tuple[str | None, str]:
    """``url`` with the scheme the app speaks (None while nothing accepts connections)."""
    declared = url.split("://", 1)[0]
    if declared not in PLAIN:
        return url, ""
    tls = speaks_tls(*_host_port(url))
    if tls is None:
        return None, "not accepting connections yet"
    if tls:
        return url, ""
    plain = PLAIN[declared] + url[len(declared) :]
    log.warning(
        "endpoint %s is declared %s but the app speaks plain %s through the forward "
        "(on a cluster a route terminates TLS); using %s",
        endpoint.name,
        declared,
        PLAIN[declared],
        plain,
    )
    return plain, ""


def matching_url(url: str, endpoint: Endpoint) -> str:
    """One probe, no wait: ``url`` with the scheme the app speaks, or as declared when the app
    does not accept connections yet."""
    found, _ = _matching_scheme(url, endpoint)
    return found or url


def probe_scheme(
    url: str, endpoint: Endpoint, timeout: float, *, check: Callable[[], None] | None = None
) -> str:
    """Wait until the app accepts connections; ``url`` with the scheme it speaks.

    The decision every caller shares (``Component.endpoint``, ``pyodo_endpoint``, ``doit dev``'s
    forwards): a declared ``https``/``wss`` endpoint keeps its scheme only when a TLS handshake
    completes through the forward. Raises :class:`~pyodo_tasks.errors.WaitTimeout` after
    ``timeout`` seconds of nothing accepting; ``check`` may raise to end the wait early.
    """
    return wait_for(
        lambda: _matching_scheme(url, endpoint),
        f"{url} to accept connections",
        timeout,
        interval=0.5,
        check=check,
    )


def wait_answering(url: str, endpoint: Endpoint, timeout: float) -> str:
    """Wait until the endpoint answers: any HTTP response for http(s), a TCP connect otherwise.

    Returns the URL that answered: for ``https``/``wss`` endpoints, with the scheme the app
    really speaks (see the module docstring and :func:`probe_scheme`).
    """
    deadline = time.monotonic() + timeout
    answering = probe_scheme(url, endpoint, timeout)
    remaining = max(deadline - time.monotonic(), 1.0)
    wait_for(
        lambda: _answers(answering, endpoint), f"{answering} to answer", remaining, interval=0.5
    )
    return answering
