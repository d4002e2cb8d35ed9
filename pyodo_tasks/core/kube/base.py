"""What every part of :class:`~.client.Kube` stands on: the connection's API objects, the
one call wrapper and the table of the kinds pyodo manages.

Why a module of its own: the parts (:mod:`.objects`, :mod:`.pods`, :mod:`.namespaces`,
:mod:`.streams`) each call the API through :meth:`KubeBase._call`, so every refusal leaves as
the same one-line ClusterError (the translation table is :mod:`.errors`).
"""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s

from pyodo_tasks.core.kube.errors import translated
from pyodo_tasks.core.kube.target import ResolvedTarget
from pyodo_tasks.errors import ClusterError

__all__ = ["ABSENT", "KINDS", "KubeBase"]

#: What :meth:`Kube._call` returns for a tolerated refusal (404 on read/delete, 409 on create).
ABSENT: Any = object()

#: The kinds pyodo creates, in delete order (workloads first so pods stop using claims).
#: kind -> (API group attribute, method suffix of the generated client)
KINDS: dict[str, tuple[str, str]] = {
    "Deployment": ("apps", "deployment"),
    "Service": ("core", "service"),
    "ConfigMap": ("core", "config_map"),
    "Secret": ("core", "secret"),
    "PersistentVolumeClaim": ("core", "persistent_volume_claim"),
}


class KubeBase:
    """The connection's attributes (set by :class:`~.client.Kube`) and the calls through them."""

    target: ResolvedTarget
    namespace: str
    #: The REST ApiClient and its typed APIs.
    api: k8s.ApiClient
    core: k8s.CoreV1Api
    apps: k8s.AppsV1Api
    #: The streaming ApiClient (exec, port-forward) and its core API.
    stream_api: k8s.ApiClient
    stream_core: k8s.CoreV1Api

    def _method(self, verb: str, kind: str) -> Any:
        try:
            group, suffix = KINDS[kind]
        except KeyError:
            raise ClusterError(f"pyodo does not manage objects of kind {kind}") from None
        return getattr(getattr(self, group), f"{verb}_namespaced_{suffix}")

    def to_dict(self, obj: Any) -> dict[str, Any]:
        return self.api.sanitize_for_serialization(obj)

    def _call(self, doing: str, func: Any, *args: Any, tolerate: int = 0, **kwargs: Any) -> Any:
        """Call the API. A refusal with status ``tolerate`` returns ``ABSENT``; any other
        refusal, or no answer at all, becomes a one-line ClusterError saying ``doing``
        (the translation table is :mod:`pyodo_tasks.core.kube.errors`)."""
        try:
            with translated(doing, kubeconfig=self.target.kubeconfig):
                return func(*args, **kwargs)
        except ClusterError as exc:
            if tolerate and exc.status == tolerate:
                return ABSENT
            raise
