"""A component's way to its cluster: the :class:`Kube` client made on first use.

Why on first use: importing the Kubernetes client costs about 1.2 s, and a one-shot
``doit push`` with nothing to do needs only one pod list, which :mod:`.kube.quick` makes without
it (as it opens the agent's stream), falling back to the client when it cannot answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyodo_tasks.core.kube.quick import quick_pipe, quick_pods, quick_run
from pyodo_tasks.core.kube.target import ResolvedTarget

if TYPE_CHECKING:
    from kubernetes import client as k8s

    from pyodo_tasks.core.agent import Pipe
    from pyodo_tasks.core.kube import ExecResult, Kube

__all__ = ["Connection"]


class Connection:
    """The cluster boundary of one target; closes the client only if it made it."""

    def __init__(self, target: ResolvedTarget, kube: Kube | None = None) -> None:
        self.target = target
        self.namespace = target.namespace
        self._kube = kube
        self._owns_kube = kube is None

    @property
    def kube(self) -> Kube:
        """The client, made on first use (see the module docstring)."""
        if self._kube is None:
            # Imported here, not at the top: the import is the 1.2 s this class defers.
            from pyodo_tasks.core.kube.client import Kube

            self._kube = Kube(self.target)
        return self._kube

    def open_pipe(
        self, pod: str, argv: list[str], *, container: str, namespace: str | None = None
    ) -> Pipe:
        """The agent's stream (:meth:`Kube.open_pipe`); while the client is not loaded (a
        one-shot ``doit push``) opened without it when the kubeconfig allows it
        (:mod:`.kube.quick`)."""
        if self.quiet(namespace):
            pipe = quick_pipe(self.target, pod, argv, container=container)
            if pipe is not None:
                return pipe
        return self.kube.open_pipe(pod, argv, container=container, namespace=namespace)

    def cheap_pods(self, selector: str) -> list[k8s.V1Pod]:
        """ONE pod list: before the client is loaded made without it (:mod:`.kube.quick`),
        falling back to the client when that cannot answer."""
        pods = quick_pods(self.target, selector) if self._kube is None else None
        if pods is None:
            pods = self.kube.pods(selector)
        return pods

    def quiet(self, namespace: str | None) -> bool:
        """True while the client is not loaded and ``namespace`` is this target's: then the
        quick path (:mod:`.kube.quick`) is tried first."""
        return self._kube is None and namespace in (None, self.namespace)

    def exec(
        self,
        pod: str,
        argv: list[str],
        *,
        container: str,
        input: bytes = b"",
        timeout: float = 60.0,
    ) -> ExecResult:
        """A command that may run twice (a read: verification's hashing) run to its end;
        before the client is loaded without it when the kubeconfig allows
        (:func:`~.kube.quick.quick_run`), else :meth:`Kube.exec`."""
        if self.quiet(None):
            result = quick_run(
                self.target, pod, argv, container=container, input=input, timeout=timeout
            )
            if result is not None:
                return result
        return self.kube.exec(pod, argv, container=container, input=input, timeout=timeout)

    def open_portforward(self, pod: str, port: int, namespace: str | None = None) -> Any:
        """One stream to ``port`` of ``pod`` (:meth:`Kube.open_portforward`); before the
        client is loaded opened without it when the kubeconfig allows
        (:mod:`.kube.quick_forward`)."""
        if self.quiet(namespace):
            from pyodo_tasks.core.kube.quick_forward import quick_forward

            forward = quick_forward(self.target, pod, port)
            if forward is not None:
                return forward
        return self.kube.open_portforward(pod, port, namespace)

    def close(self) -> None:
        """Close the client if this object made it (a client handed in belongs to the caller)."""
        if self._owns_kube and self._kube is not None:
            self._kube.close()
