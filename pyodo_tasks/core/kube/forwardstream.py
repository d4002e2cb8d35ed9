"""The client's port-forward, with a proxy thread that ends quietly when the connection drops.

The client's ``PortForward`` pumps between its socketpair and the websocket in a thread of its
own, which lets every socket error escape: when the API server went away under an open
forward, that thread died with ``ssl.SSLEOFError`` and Python printed its traceback in the
middle of ``doit forward``'s and ``doit dev``'s output (seen in the chaos suite's API server
outage, issue 20). :class:`QuietPortForward` ends the thread as the client does for a closed
websocket (both local ends closed, so the forwarded connection sees EOF) and logs one line.

:data:`portforward` opens one the way ``kubernetes.stream.portforward`` does (the same request
swap on the streaming client), except that a websocket that does not open raises its own error
(refused connection, TLS failure, refused handshake with its status), which the translation
table names, instead of the client's ``ApiException(status=0)`` that its caller then hides
behind an ``AttributeError``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from typing import Any

from kubernetes.stream import portforward as client_portforward
from kubernetes.stream import ws_client
from websocket import WebSocketException

__all__ = ["QuietPortForward", "portforward"]

log = logging.getLogger(__name__)


class QuietPortForward(ws_client.PortForward):
    """``kubernetes.stream.ws_client.PortForward`` whose proxy thread survives a lost link."""

    def _proxy(self) -> None:
        try:
            super()._proxy()
        except (OSError, WebSocketException) as exc:
            log.info("port-forward connection lost: %s", exc)
            for port in self.local_ports.values():
                port.python.close()
            with contextlib.suppress(OSError, WebSocketException):
                self.websocket.close()


def _portforward_call(configuration: Any, _method: str, url: str, **kwargs: Any) -> Any:
    """``ws_client.portforward_call`` making a :class:`QuietPortForward` and letting the
    failure to open the websocket through as itself (see the module docstring)."""
    query = kwargs.get("query_params") or []
    ports = [int(p) for name, value in query if name == "ports" for p in str(value).split(",")]
    websocket = ws_client.create_websocket(
        configuration, ws_client.get_websocket_url(url, query), kwargs.get("headers")
    )
    return QuietPortForward(websocket, ports)


#: ``portforward(api_method, pod, namespace, ports=...)``, as ``kubernetes.stream.portforward``.
portforward = functools.partial(
    client_portforward.func, _portforward_call, *client_portforward.args[1:]
)
