"""Talking to the cluster: target resolution, server-side apply, exec, port-forward, waits.

:class:`Kube` is the engine's one boundary to the cluster: nothing outside this package touches
the official client, and every client failure leaves it as a :class:`~pyodo_tasks.errors.
ClusterError` through the one table in :mod:`.errors` (with ``status``, ``reason``, ``retryable``).

Built on the official client. Two ApiClients per :class:`Kube`: the client's ``stream()`` swaps a
method on the ApiClient it is given (kubernetes-client/python#928), so streaming never shares a
client with REST calls.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyodo_tasks.core.kube.client import Kube
    from pyodo_tasks.core.kube.errors import translate, translated
    from pyodo_tasks.core.kube.execs import ExecResult
    from pyodo_tasks.core.kube.portforward import PortForwarder
    from pyodo_tasks.core.kube.target import ResolvedTarget, Target, kubeconfig_paths

__all__ = [
    "ExecResult",
    "Kube",
    "PortForwarder",
    "ResolvedTarget",
    "Target",
    "kubeconfig_paths",
    "translate",
    "translated",
]

_HOMES = {
    "ExecResult": "execs",
    "Kube": "client",
    "PortForwarder": "portforward",
    "ResolvedTarget": "target",
    "Target": "target",
    "kubeconfig_paths": "target",
    "translate": "errors",
    "translated": "errors",
}


def __getattr__(name: str) -> Any:
    """Import on first use (PEP 562): the target and kubeconfig helpers do not need the
    Kubernetes client, which costs every importer (each pytest xdist worker) half a second."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value
    return value
