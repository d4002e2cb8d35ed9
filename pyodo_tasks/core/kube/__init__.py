"""Talking to the cluster: target resolution, server-side apply, exec, port-forward, waits.

:class:`Kube` is the engine's one boundary to the cluster: nothing outside this package touches
the official client, and every client failure leaves it as a :class:`~pyodo_tasks.errors.
ClusterError` through the one table in :mod:`.errors` (with ``status``, ``reason``, ``retryable``).

Built on the official client. Two ApiClients per :class:`Kube`: the client's ``stream()`` swaps a
method on the ApiClient it is given (kubernetes-client/python#928), so streaming never shares a
client with REST calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyodo_tasks._lazy import lazy_exports

if TYPE_CHECKING:
    from pyodo_tasks.core.kube.app_exec import AppExec
    from pyodo_tasks.core.kube.client import Kube
    from pyodo_tasks.core.kube.errors import translate, translated
    from pyodo_tasks.core.kube.execs import ExecResult
    from pyodo_tasks.core.kube.portforward import PortForwarder
    from pyodo_tasks.core.kube.target import ResolvedTarget, Target, kubeconfig_paths

__all__ = [
    "AppExec",
    "ExecResult",
    "Kube",
    "PortForwarder",
    "ResolvedTarget",
    "Target",
    "kubeconfig_paths",
    "translate",
    "translated",
]

# Imported on first use (PEP 562): the target and kubeconfig helpers do not need the Kubernetes
# client, which costs every importer (each pytest xdist worker) half a second.
__getattr__ = lazy_exports(
    globals(),
    {
        "app_exec": ("AppExec",),
        "client": ("Kube",),
        "errors": ("translate", "translated"),
        "execs": ("ExecResult",),
        "portforward": ("PortForwarder",),
        "target": ("ResolvedTarget", "Target", "kubeconfig_paths"),
    },
)
