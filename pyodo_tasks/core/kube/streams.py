"""What stays open: exec and port-forward websockets, and watches.

The websockets use the streaming client only (``stream()`` swaps a method on the ApiClient it
is given, kubernetes-client/python#928); watches end a wait's pause at the first change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes.stream import stream

from pyodo_tasks.core.kube.base import KubeBase
from pyodo_tasks.core.kube.errors import translated
from pyodo_tasks.core.kube.forwardstream import portforward
from pyodo_tasks.core.kube.watch import ChangePause

__all__ = ["StreamsApi"]


class StreamsApi(KubeBase):
    """Opens exec and port-forward websockets and watch-based pauses."""

    def list_function(self, kind: str) -> Any:
        """The client's namespaced list function for ``kind`` (``Pod`` or a managed kind), as
        :class:`kubernetes.watch.Watch` needs it; watches translate their own failures."""
        if kind == "Pod":
            return self.core.list_namespaced_pod
        return self._method("list", kind)

    def changes(
        self, kind: str, *, selector: str | None = None, name: str | None = None
    ) -> Callable[[float], None]:
        """A pause for :func:`~pyodo_tasks.core.wait.wait_for` that ends at the first change
        of ``kind`` objects (a watch; see :mod:`.watch`): ``Pod``, ``Namespace`` or a kind of
        :data:`KINDS`, filtered by label ``selector`` and/or ``name``."""
        fields = f"metadata.name={name}" if name else None
        if kind == "Namespace":
            return ChangePause(
                self.core.list_namespace, label_selector=selector, field_selector=fields
            )
        return ChangePause(
            self.list_function(kind), self.namespace, label_selector=selector, field_selector=fields
        )

    # -- streams (exec, port-forward) ----------------------------------------------------------
    def open_exec(self, pod: str, argv: list[str], namespace: str, **options: Any) -> Any:
        """Open an exec websocket (the raw ``WSClient``) on the streaming client."""
        with translated(
            f"exec {argv[0]} in pod/{pod}",
            also=(AttributeError,),
            kubeconfig=self.target.kubeconfig,
        ):
            return stream(
                self.stream_core.connect_get_namespaced_pod_exec,
                pod,
                namespace,
                command=argv,
                _preload_content=False,
                **options,
            )

    def open_portforward(self, pod: str, port: int, namespace: str | None = None) -> Any:
        """Open a port-forward websocket to ``port`` of ``pod`` (the client's PortForward, with a
        proxy thread that survives a lost connection: :mod:`.forwardstream`)."""
        namespace = namespace or self.namespace
        with translated(f"port-forward to pod/{pod}:{port}", kubeconfig=self.target.kubeconfig):
            return portforward(
                self.stream_core.connect_get_namespaced_pod_portforward,
                pod,
                namespace,
                ports=str(port),
            )
