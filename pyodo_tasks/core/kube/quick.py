"""A pod list and an exec stream without the official client: what a one-shot ``doit push`` needs.

Why: importing ``kubernetes.client`` costs about 1.2 s (it imports every API and model class),
the pod list itself 0.04 s. A push with nothing to do needs only that list (the running pod of
its spec), and a push of an edit only one more thing, the agent's exec stream. So this reads the
kubeconfig entry itself (server, CA, client certificate or bearer token) and makes the GET with
the standard library, and opens the exec websocket with websocket-client (the library the
official client uses for it) — the stream is then the same :class:`~.pipe.ExecPipe`.

It never answers wrong, at worst it answers nothing: anything it does not handle — exec and
auth-provider plugins, basic auth, impersonation, proxies, relative paths across several
kubeconfig files — and any failure at all (refused, timed out, 403, unreadable JSON) gives
None, and the caller asks :class:`~pyodo_tasks.core.kube.Kube` as before, which reports
errors properly. The pods come back as :class:`JsonView`, read like the client's ``V1Pod``
(``pod.status.container_statuses[0].container_id``) by the pod-state rules.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import ssl
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime
from http.client import HTTPConnection, HTTPSConnection
from pathlib import Path
from typing import Any

import websocket

from pyodo_tasks.core.kube.execs import ExecResult, returncode
from pyodo_tasks.core.kube.pipe import ExecPipe, describe
from pyodo_tasks.core.kube.target import ResolvedTarget, load_merged
from pyodo_tasks.errors import PyodoError

__all__ = ["JsonView", "open_websocket", "quick_pipe", "quick_pods", "quick_run"]

log = logging.getLogger(__name__)

#: Keys of a user entry this module can authenticate with; any other key (exec, auth-provider,
#: username, as, ...) means "not for the quick path".
_USER_KEYS = {"client-certificate", "client-certificate-data", "client-key", "client-key-data",
              "token", "tokenFile"}  # fmt: skip
_CLUSTER_KEYS = {"server", "certificate-authority", "certificate-authority-data",
                 "insecure-skip-tls-verify", "tls-server-name", "extensions"}  # fmt: skip
#: What the client asks for: v5 (with its stdin-close channel) or v4.
_EXEC_PROTOCOLS = "v5.channel.k8s.io,v4.channel.k8s.io"
#: The v5 protocol's channel-close channel (followed by the channel to close: 0, stdin).
_CLOSE = 255
#: Words the API's JSON spells in capitals (``containerID``, ``podIP``, ``hostIPs``).
_CAPITAL_WORDS = {"id": "ID", "ip": "IP", "ips": "IPs"}
#: Fields that are maps of strings in the API (the client gives dicts, not objects).
_MAPS = {"labels", "annotations", "nodeSelector", "limits", "requests", "capacity",
         "allocatable", "data"}  # fmt: skip


class _Unsupported(Exception):
    """The kubeconfig entry needs the full client."""


#: Whatever goes wrong reading the kubeconfig entry: the full client will say it properly.
_NOT_ANSWERED = (
    _Unsupported,
    PyodoError,
    OSError,
    ValueError,
    LookupError,
    TypeError,
    AttributeError,
)


@dataclass(frozen=True)
class _Endpoint:
    """How to reach and authenticate to the API server, read from the kubeconfig."""

    host: str
    port: int
    headers: dict[str, str]
    tls: ssl.SSLContext | None

    def connection(self, timeout: float) -> HTTPConnection:
        if self.tls is None:
            return HTTPConnection(self.host, self.port, timeout=timeout)
        return HTTPSConnection(self.host, self.port, timeout=timeout, context=self.tls)


def quick_pods(target: ResolvedTarget, selector: str, timeout: float = 5.0) -> list[Any] | None:
    """The pods matching ``selector`` in the target's namespace, or None (use :class:`Kube`)."""
    endpoint = _endpoint(target)
    if endpoint is None:
        return None
    query = urllib.parse.urlencode({"labelSelector": selector})
    namespace = urllib.parse.quote(target.namespace, safe="")
    connection = endpoint.connection(timeout)
    try:
        path = f"/api/v1/namespaces/{namespace}/pods?{query}"
        connection.request("GET", path, headers=endpoint.headers)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            log.debug("quick pod list answered %s", response.status)
            return None
        items = json.loads(body).get("items")
    except (OSError, ValueError, AttributeError) as exc:
        log.debug("quick pod list failed: %s", exc)
        return None
    finally:
        connection.close()
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return None
    return [JsonView(item) for item in items]


def quick_pipe(
    target: ResolvedTarget, pod: str, argv: list[str], *, container: str, timeout: float = 15.0
) -> ExecPipe | None:
    """``argv`` started in ``container`` of ``pod`` on an exec websocket opened without the
    client (the agent's stream for a one-shot ``doit push``), or None (use :class:`Kube`)."""
    query = urllib.parse.urlencode(
        [("command", arg) for arg in argv]
        + [("container", container), ("stdin", "true"), ("stdout", "true"), ("stderr", "true")]
    )
    ws = open_websocket(target, pod, f"exec?{query}", _EXEC_PROTOCOLS, timeout)
    return None if ws is None else ExecPipe(ws, describe(pod, argv))


def open_websocket(
    target: ResolvedTarget, pod: str, what: str, protocols: str, timeout: float
) -> websocket.WebSocket | None:
    """A websocket to the pod's subresource ``what`` (``exec?…``, ``portforward?…``) in the
    target's namespace, opened without the client; None when it cannot be (use :class:`Kube`)."""
    endpoint = _endpoint(target)
    if endpoint is None:
        return None
    namespace, name = (urllib.parse.quote(v, safe="") for v in (target.namespace, pod))
    scheme = "wss" if endpoint.tls is not None else "ws"
    url = f"{scheme}://{endpoint.host}:{endpoint.port}/api/v1/namespaces/{namespace}/pods/{name}/{what}"
    # Not the list's Accept: the API server answers an exec upgrade asking for JSON with 406.
    header = [f"{key}: {value}" for key, value in endpoint.headers.items() if key != "Accept"]
    header.append(f"Sec-WebSocket-Protocol: {protocols}")
    ws = websocket.WebSocket(sslopt={"context": endpoint.tls} if endpoint.tls else {})
    try:
        ws.connect(url, header=header, timeout=timeout)
    except (websocket.WebSocketException, OSError) as exc:
        log.debug("quick %s not possible: %s", what.partition("?")[0], exc)
        ws.close()
        return None
    return ws


def quick_run(
    target: ResolvedTarget,
    pod: str,
    argv: list[str],
    *,
    container: str,
    input: bytes = b"",
    timeout: float = 60.0,
) -> ExecResult | None:
    """``argv`` run to its end in ``container`` of ``pod`` without the client, ``input`` on its
    stdin (then closed), or None (use :class:`Kube`). The v5 protocol is needed to close stdin:
    under v4 the command is started, then its stream closed, and None returned, so use this
    for commands that may run twice (a read, such as ``doit verify``'s hashing)."""
    pipe = quick_pipe(target, pod, argv, container=container, timeout=min(timeout, 15.0))
    if pipe is None:
        return None
    out: dict[int, list[bytes]] = {1: [], 2: []}
    try:
        if pipe.ws.getheaders().get("sec-websocket-protocol") != _EXEC_PROTOCOLS.split(",")[0]:
            return None
        if input:
            pipe.send(input)
        pipe.ws.send(bytes([_CLOSE, 0]), opcode=websocket.ABNF.OPCODE_BINARY)  # stdin's EOF
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = pipe.recv(min(deadline - time.monotonic(), 1.0))
            if got is not None and got[0] == 3:
                code, message = returncode(got[1])
                err = [*out[2], message.encode()] if message else out[2]
                return ExecResult(tuple(argv), code, b"".join(out[1]), b"".join(err))
            if got is not None and got[0] in out:
                out[got[0]].append(got[1])
    except (PyodoError, EOFError, websocket.WebSocketException, OSError) as exc:
        log.debug("quick exec of %s ended without its status: %s", argv[0], exc)
    finally:
        pipe.close()
    return None


@functools.lru_cache(maxsize=8)
def _endpoint(target: ResolvedTarget) -> _Endpoint | None:
    """Read once per target and process: a push of an edit lists the pods, then opens the exec
    (the kubeconfig parsed and the TLS context built once; a token rotated in between only
    makes the exec fall back to the client)."""
    try:
        return _read_endpoint(target)
    except _NOT_ANSWERED as exc:
        log.debug("the kubeconfig entry needs the client: %s", exc)
        return None


def _read_endpoint(target: ResolvedTarget) -> _Endpoint:
    files = [Path(p) for p in target.kubeconfig.split(os.pathsep) if p]
    merged = load_merged(files)
    context = _named(merged["contexts"], target.context)["context"]
    cluster = _named(merged["clusters"], context["cluster"])["cluster"]
    user = (_named(merged["users"], context["user"])["user"] if context.get("user") else {}) or {}
    if set(cluster) - _CLUSTER_KEYS or set(user) - _USER_KEYS:
        raise _Unsupported("kubeconfig entry uses more than certificates and tokens")
    if _has(user, "client-certificate") != _has(user, "client-key"):
        raise _Unsupported("client certificate without key, or key without certificate")
    base = files[0].parent if len(files) == 1 else None
    url = urllib.parse.urlsplit(cluster["server"])
    headers = {"Accept": "application/json", "User-Agent": "pyodo-quick"}
    token = _token(user, base)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if url.scheme not in ("http", "https") or url.path.strip("/") or not url.hostname:
        raise _Unsupported(f"server {cluster['server']}")
    if url.scheme == "http":
        return _Endpoint(url.hostname, url.port or 80, headers, None)
    if cluster.get("tls-server-name", url.hostname) != url.hostname:
        raise _Unsupported("tls-server-name")
    tls = _tls_context(cluster, user, base)
    return _Endpoint(url.hostname, url.port or 443, headers, tls)


def _has(entry: dict[str, Any], key: str) -> bool:
    return bool(entry.get(key) or entry.get(f"{key}-data"))


def _named(entries: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for entry in entries:
        if entry.get("name") == name:
            return entry
    raise KeyError(name)


def _path(value: str, base: Path | None) -> Path:
    path = Path(value).expanduser()
    if not path.is_absolute():
        if base is None:  # relative to which of several files? kubectl knows; we do not
            raise _Unsupported("relative path in a merged kubeconfig")
        path = base / path
    return path


def _token(user: dict[str, Any], base: Path | None) -> str | None:
    if user.get("token"):
        return str(user["token"])
    if user.get("tokenFile"):
        return _path(user["tokenFile"], base).read_text(encoding="utf-8").strip()
    return None


def _pem(entry: dict[str, Any], key: str, base: Path | None) -> bytes | None:
    if entry.get(f"{key}-data"):
        return base64.b64decode(entry[f"{key}-data"], validate=True)
    if entry.get(key):
        return _path(entry[key], base).read_bytes()
    return None


def _tls_context(
    cluster: dict[str, Any], user: dict[str, Any], base: Path | None
) -> ssl.SSLContext:
    tls = ssl.create_default_context()
    if cluster.get("insecure-skip-tls-verify"):
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    else:
        ca = _pem(cluster, "certificate-authority", base)
        if ca is not None:
            tls.load_verify_locations(cadata=ca.decode("ascii"))
    cert, key = _pem(user, "client-certificate", base), _pem(user, "client-key", base)
    if cert is not None and key is not None:
        # ssl loads a chain from files only: a private directory, gone once loaded.
        with tempfile.TemporaryDirectory(prefix="pyodo-tls-") as directory:
            cert_file, key_file = Path(directory, "cert.pem"), Path(directory, "key.pem")
            cert_file.write_bytes(cert)
            key_file.touch(mode=0o600)
            key_file.write_bytes(key)
            tls.load_cert_chain(cert_file, key_file)
    return tls


def _attribute_key(name: str) -> str:
    """``container_statuses`` -> ``containerStatuses``, ``container_id`` -> ``containerID``."""
    first, *rest = name.split("_")
    return first + "".join(_CAPITAL_WORDS.get(word, word.capitalize()) for word in rest)


class JsonView:
    """A JSON object read with the client's attribute names; a missing field reads None.

    Nested objects are views, maps of strings (labels, annotations, ...) stay dicts and
    ``*_timestamp`` fields come back as aware datetimes, as the client gives them.
    """

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        key = _attribute_key(name)
        value = self._data.get(key)
        if name.endswith("_timestamp") and isinstance(value, str):
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        return value if key in _MAPS else _wrap(value)

    def to_dict(self) -> dict[str, Any]:
        """The object as the API sent it (camelCase keys)."""
        return self._data

    def __repr__(self) -> str:
        return f"JsonView({self._data!r})"


def _wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return JsonView(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value
