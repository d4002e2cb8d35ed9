"""A small typed façade over the official client: the engine's one boundary to the cluster.

Server-side apply, read, list and delete by label; pods, logs, events, namespaces; exec and
port-forward streams; watch-based pauses and the deletion waits. Every call goes through the one
translation table (:mod:`.errors`), so only :class:`~pyodo_tasks.errors.ClusterError` (with
``status``/``reason``/``retryable``) leaves; nothing outside ``core.kube`` uses the client.

:class:`Kube` is the one class callers use; it is made of one part per concern, a module each:
:mod:`.objects`, :mod:`.pods`, :mod:`.namespaces`, :mod:`.streams` (on :mod:`.base`, the call
wrapper). Here: the connection, and what takes the whole of it (commands in containers, the
agent's pipe, the deletion waits).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from kubernetes import client as k8s
from kubernetes.config import new_client_from_config

from pyodo_tasks.core.kube.base import KINDS
from pyodo_tasks.core.kube.errors import translated
from pyodo_tasks.core.kube.execs import ExecResult, exec_run
from pyodo_tasks.core.kube.namespaces import NamespacesApi
from pyodo_tasks.core.kube.objects import FIELD_MANAGER, ObjectsApi
from pyodo_tasks.core.kube.pipe import ExecPipe
from pyodo_tasks.core.kube.pods import PodsApi
from pyodo_tasks.core.kube.streams import StreamsApi
from pyodo_tasks.core.kube.target import ResolvedTarget, Target
from pyodo_tasks.core.wait import wait_for
from pyodo_tasks.errors import ConfigError

__all__ = ["FIELD_MANAGER", "KINDS", "Kube"]

log = logging.getLogger(__name__)


class Kube(ObjectsApi, PodsApi, NamespacesApi, StreamsApi):
    """One cluster connection: a REST ApiClient and a separate one for exec/port-forward."""

    def __init__(self, target: Target | ResolvedTarget) -> None:
        self.target = target.resolve() if isinstance(target, Target) else target
        self.namespace = self.target.namespace
        try:
            with translated(self.target.kubeconfig):
                self.api = new_client_from_config(
                    config_file=self.target.kubeconfig, context=self.target.context
                )
                self.stream_api = new_client_from_config(
                    config_file=self.target.kubeconfig, context=self.target.context
                )
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            # The client's loader assumes well-typed entries (server: 7 -> AttributeError).
            raise ConfigError(
                f"{self.target.kubeconfig}: context {self.target.context}: unusable entry "
                f"({type(exc).__name__}: {exc}); fix the kubeconfig"
            ) from exc
        self.core = k8s.CoreV1Api(self.api)
        self.apps = k8s.AppsV1Api(self.api)
        self.stream_core = k8s.CoreV1Api(self.stream_api)

    def __enter__(self) -> Kube:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close both clients' connections (ApiClient.close() stops only its thread pool)."""
        for api in (self.api, self.stream_api):
            api.close()
            api.rest_client.pool_manager.clear()

    def version(self, timeout: float = 15.0) -> str:
        """The API server's version (``git_version``): the cheapest "does it answer" request."""
        api = k8s.VersionApi(self.api)
        return self._call(
            "read the server version", api.get_code, _request_timeout=timeout
        ).git_version

    # -- what takes the whole Kube: the agent's pipe, commands in containers ------------------
    def open_pipe(
        self, pod: str, argv: list[str], *, container: str, namespace: str | None = None
    ) -> ExecPipe:
        """Start ``argv`` in ``container`` of ``pod`` and keep its stream open, read frame by
        frame (:class:`~.pipe.ExecPipe`: the resident agent's transport)."""
        namespace = namespace or self.namespace
        return ExecPipe.open(self, pod, argv, container=container, namespace=namespace)

    def exec(self, pod: str, args: Sequence[str], **options: Any) -> ExecResult:
        """Run a command in a container of ``pod``: :func:`~.execs.exec_run` on this cluster."""
        return exec_run(self, pod, args, **options)

    # -- the deletion waits (reads of several parts, a watch) ---------------------------------
    def wait_namespace_gone(self, name: str, timeout: float, interval: float = 1.0) -> None:
        """Wait (bounded) until a deleted namespace has finished terminating."""

        def probe() -> tuple[bool | None, str]:
            phase = self.namespace_phase(name)
            return (True, "gone") if phase is None else (None, f"phase {phase}")

        pause = self.changes("Namespace", name=name)
        wait_for(probe, f"namespace {name} to be deleted", timeout, interval, pause=pause)

    def wait_labelled_gone(
        self,
        selector: str,
        what: str,
        timeout: float,
        *,
        namespace: str | None = None,
        pods: str | None = None,
        interval: float = 1.0,
    ) -> None:
        """Wait (bounded) until no object of pyodo's kinds matches ``selector`` (and, with
        ``pods``, no pod matches that selector either); the timeout names what is left."""

        def probe() -> tuple[bool | None, str]:
            left = self.list_labelled(selector, namespace)
            if left or (pods and self.pods(pods, namespace)):
                return None, str([f"{o['kind']}/{o['metadata']['name']}" for o in left])
            return True, "gone"

        wait_for(probe, what, timeout, interval)
