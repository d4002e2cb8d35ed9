"""The one translation table from the Kubernetes client's failures to pyodo's errors.

Everything that talks to the cluster goes through :class:`~pyodo_tasks.core.kube.Kube`, and
everything :class:`Kube` calls is wrapped in :func:`translated`. What can come out of the client,
and what it becomes (a :class:`~pyodo_tasks.errors.ClusterError` carrying ``status``,
``reason`` and ``retryable``, kopf's temporary/permanent split)::

    client raises                           status          retryable  message
    ApiException (the API answered)         HTTP status     5xx, 429   <doing>: <status> <reason>
    ApiException status 0 (a stream's websocket never opened; also hidden behind the client's
      AttributeError): translated as the failure it wraps, else as "did not answer"
    websocket handshake refused             HTTP status     5xx, 429   <doing>: <status> <body>
    other WebSocketException                None            yes        <doing>: connection lost
    urllib3 HTTPError, OSError (no answer)  None            yes        <doing>: did not answer
    ConfigException (bad kubeconfig)        None            no         <doing>: <the problem>

Callers test ``exc.status`` (e.g. 403: the user may not create namespaces) instead of digging
the client's exception out of ``__cause__``; the cause is kept for the traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from urllib3.exceptions import HTTPError
from websocket import WebSocketBadStatusException, WebSocketException

from pyodo_tasks.errors import ClusterError

if TYPE_CHECKING:
    from kubernetes.client.exceptions import ApiException

__all__ = ["RETRYABLE_STATUS", "api_error", "translate", "translated", "translated_types"]

#: Statuses a later retry may get past: the server was busy, restarting or timing out.
RETRYABLE_STATUS = frozenset({0, 408, 429, 500, 502, 503, 504})

#: The client's own exception classes, by module: looked up, never imported here. Importing the
#: client costs over a second, and until something has imported it none of them can be raised
#: (the client-free paths of :mod:`.quick` translate their websocket errors through this table).
_CLIENT_CLASSES = {
    "ApiException": "kubernetes.client.exceptions",
    "ConfigException": "kubernetes.config.config_exception",
}


def _client_class(name: str) -> type[BaseException] | None:
    module = sys.modules.get(_CLIENT_CLASSES[name])
    found: Any = getattr(module, name, None)
    return found if isinstance(found, type) else None


def translated_types() -> tuple[type[BaseException], ...]:
    """Every exception type the table translates (the client's only once it is loaded)."""
    client = tuple(c for c in map(_client_class, _CLIENT_CLASSES) if c is not None)
    return (*client, WebSocketException, HTTPError, OSError)


_REFUSED = "Failed to establish a new connection: "


def _short(exc: BaseException) -> str:
    """The useful end of urllib3's nested messages, e.g. ``[Errno 111] Connection refused``."""
    text = str(getattr(exc, "reason", None) or exc) or type(exc).__name__
    if _REFUSED in text:
        text = text.split(_REFUSED, 1)[1].rstrip("')\" ")
    return text.splitlines()[0][:200] if text.strip() else type(exc).__name__


def _refusal(doing: str, status: int | None, reason: str, kubeconfig: str = "") -> ClusterError:
    hint = ""
    if status == 401:
        where = f"the credentials in {kubeconfig}" if kubeconfig else "the kubeconfig's credentials"
        hint = f" ({where} were refused: expired or revoked; get new ones)"
    elif status == 403:
        hint = " (the kubeconfig's user lacks this permission)"
    elif status in (0, None):
        hint = " (is the cluster up? check the kubeconfig's server address)"
    return ClusterError(
        f"{doing}: {status} {reason}{hint}",
        status=status,
        reason=reason,
        retryable=(status or 0) in RETRYABLE_STATUS,
    )


def api_error(exc: ApiException, doing: str, kubeconfig: str = "") -> ClusterError:
    """A one-line ClusterError from an ApiException: what we did, the status, the server's words."""
    reason = exc.reason or ""
    try:
        body = json.loads(exc.body or "{}")
        reason = body.get("message") or reason
    except (ValueError, TypeError, AttributeError):
        pass
    return _refusal(doing, exc.status, reason, kubeconfig)


def _unwrapped(exc: BaseException, api_exception: type[BaseException] | None) -> BaseException:
    """The failure behind the client's wrappers of it.

    When no exec or port-forward websocket opens, the streaming client re-raises what happened
    (a refused connection, a refused handshake with its HTTP status) as ``ApiException(status=0,
    reason=str(exc))``, and its ``__call_api`` then calls ``e.body.decode()`` on that, whose
    body is None: the ``AttributeError`` ('NoneType' object has no attribute 'decode') that
    escapes hides both. It was what ``doit forward`` and ``doit dev`` said when the API server
    stopped; and a 500 from the kubelet (containerd down) read as "API server unreachable".
    The original failure is each wrapper's ``__context__``.
    """
    if (
        isinstance(exc, AttributeError)
        and api_exception
        and isinstance(exc.__context__, api_exception)
    ):
        exc = exc.__context__
    wrapped = api_exception is not None and isinstance(exc, api_exception)
    if wrapped and not getattr(exc, "status", None) and exc.__context__ is not None:
        return exc.__context__
    return exc


def _handshake_refusal(exc: WebSocketBadStatusException) -> str:
    """The server's words for a refused websocket handshake (its body, e.g. the kubelet's
    ``rpc error: ... containerd.sock: connect: connection refused``), else the client's."""
    body = exc.resp_body
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
    return text.strip().splitlines()[0][:300] if text.strip() else _short(exc)


def translate(exc: BaseException, doing: str, kubeconfig: str = "") -> ClusterError:
    """The :class:`ClusterError` for one of the client's failures (see the module table);
    ``kubeconfig``, the file the credentials came from, is named when they are refused (401)."""
    if isinstance(exc, ClusterError):
        return exc
    api_exception, config_exception = map(_client_class, _CLIENT_CLASSES)
    exc = _unwrapped(exc, api_exception)
    if api_exception is not None and isinstance(exc, api_exception):
        if not getattr(exc, "status", None):  # status 0: no HTTP answer at all
            return _unanswered(doing, str(getattr(exc, "reason", "") or exc))
        return api_error(exc, doing, kubeconfig)
    if isinstance(exc, WebSocketBadStatusException):
        return _refusal(doing, exc.status_code, _handshake_refusal(exc), kubeconfig)
    if isinstance(exc, WebSocketException):
        return ClusterError(f"{doing}: connection lost: {_short(exc)}", retryable=True)
    if config_exception is not None and isinstance(exc, config_exception):
        return ClusterError(f"{doing}: {exc}")
    return _unanswered(doing, _short(exc))


def _unanswered(doing: str, why: str) -> ClusterError:
    return ClusterError(
        f"{doing}: the cluster did not answer (API server unreachable ({why})); "
        "is the cluster up? (python -m pyodo_tasks.cluster status)",
        retryable=True,
    )


@contextmanager
def translated(
    doing: str, also: tuple[type[BaseException], ...] = (), kubeconfig: str = ""
) -> Iterator[None]:
    """Re-raise the client's failures inside the block as one-line ClusterErrors.

    ``also`` adds types that mean "no connection" at one call site only (the stream client
    raises AttributeError from its own error path when nothing listens).
    """
    try:
        yield
    except ClusterError:
        raise
    except (*translated_types(), *also) as exc:
        raise translate(exc, doing, kubeconfig) from exc
