"""A small typed façade over the official client: the engine's one boundary to the cluster.

Server-side apply, read, list and delete by label; pods, logs, events, namespaces; exec and
port-forward streams; watch-based pauses and the deletion waits. Every call goes through the one
translation table (:mod:`.errors`), so only :class:`~pyodo_tasks.errors.ClusterError` (with
``status``/``reason``/``retryable``) leaves; nothing outside ``core.kube`` uses the client.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cached_property
from typing import Any

from kubernetes import client as k8s
from kubernetes.config import new_client_from_config
from kubernetes.stream import portforward, stream

from pyodo_tasks.core.kube.errors import translated
from pyodo_tasks.core.kube.execs import ExecResult, exec_run
from pyodo_tasks.core.kube.pipe import ExecPipe
from pyodo_tasks.core.kube.target import ResolvedTarget, Target
from pyodo_tasks.core.kube.watch import ChangePause
from pyodo_tasks.core.wait import wait_for
from pyodo_tasks.errors import ClusterError, ConfigError

__all__ = ["FIELD_MANAGER", "KINDS", "Kube"]

log = logging.getLogger(__name__)

#: What :meth:`Kube._call` returns for a tolerated refusal (404 on read/delete, 409 on create).
ABSENT: Any = object()

FIELD_MANAGER = "pyodo"

#: The kinds pyodo creates, in delete order (workloads first so pods stop using claims).
#: kind -> (API group attribute, method suffix of the generated client)
KINDS: dict[str, tuple[str, str]] = {
    "Deployment": ("apps", "deployment"),
    "Service": ("core", "service"),
    "ConfigMap": ("core", "config_map"),
    "Secret": ("core", "secret"),
    "PersistentVolumeClaim": ("core", "persistent_volume_claim"),
}


class Kube:
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

    # -- generic object access ---------------------------------------------------------------
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
            with translated(doing):
                return func(*args, **kwargs)
        except ClusterError as exc:
            if tolerate and exc.status == tolerate:
                return ABSENT
            raise

    @cached_property
    def dynamic(self) -> Any:
        """A discovery-backed client for kinds pyodo has no typed method for (devfile
        kubernetes components); built on first use, as discovery costs requests."""
        from kubernetes.dynamic import DynamicClient

        with translated("discover the cluster's API resources"):
            return DynamicClient(self.api)

    def _resource(self, obj: Mapping[str, Any]) -> Any:
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        api_version, kind = obj["apiVersion"], obj["kind"]
        try:
            return self.dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError as exc:
            raise ClusterError(
                f"the cluster serves no {kind} in {api_version} (is its CRD installed?)"
            ) from exc

    def _typed(self, obj: Mapping[str, Any]) -> bool:
        group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else "core"
        return obj["kind"] in KINDS and KINDS[obj["kind"]][0] == group

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply under pyodo's field manager, taking over conflicting fields."""
        if not self._typed(obj):
            return self._apply_dynamic(obj)
        kind, name = obj["kind"], obj["metadata"]["name"]
        namespace = obj["metadata"].get("namespace") or self.namespace
        result = self._call(
            f"apply {kind}/{name} in {namespace}",
            self._method("patch", kind),
            name,
            namespace,
            obj,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type="application/apply-patch+yaml",
        )
        return self.to_dict(result)

    def _apply_dynamic(self, obj: dict[str, Any]) -> dict[str, Any]:
        resource = self._resource(obj)
        name = obj["metadata"]["name"]
        namespace = (
            (obj["metadata"].get("namespace") or self.namespace) if resource.namespaced else None
        )
        result = self._call(
            f"apply {obj['kind']}/{name}" + (f" in {namespace}" if namespace else ""),
            resource.server_side_apply,
            body=obj,
            name=name,
            namespace=namespace,
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
        return dict(result.to_dict())

    def delete_object(self, obj: Mapping[str, Any]) -> bool:
        """Delete the object a manifest describes, whatever its kind; False when gone."""
        name = obj["metadata"]["name"]
        if self._typed(obj):
            return self.delete(obj["kind"], name, obj["metadata"].get("namespace"))
        resource = self._resource(obj)
        namespace = (
            (obj["metadata"].get("namespace") or self.namespace) if resource.namespaced else None
        )
        doing = f"delete {obj['kind']}/{name}"
        result = self._call(doing, resource.delete, name=name, namespace=namespace, tolerate=404)
        return result is not ABSENT

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object as a dict, or None when it does not exist."""
        namespace = namespace or self.namespace
        doing = f"read {kind}/{name} in {namespace}"
        result = self._call(doing, self._method("read", kind), name, namespace, tolerate=404)
        return None if result is ABSENT else self.to_dict(result)

    def delete(self, kind: str, name: str, namespace: str | None = None) -> bool:
        """Delete one object (foreground for workloads); False when it was already gone."""
        namespace = namespace or self.namespace
        body = k8s.V1DeleteOptions(
            propagation_policy="Foreground" if kind == "Deployment" else "Background"
        )
        doing = f"delete {kind}/{name} in {namespace}"
        result = self._call(
            doing, self._method("delete", kind), name, namespace, body=body, tolerate=404
        )
        return result is not ABSENT

    def list_labelled(
        self, selector: str, namespace: str | None = None, kinds: Iterable[str] = KINDS
    ) -> list[dict[str, Any]]:
        """Every object of pyodo's kinds matching a label selector, as dicts."""
        namespace = namespace or self.namespace
        found = []
        for kind in kinds:
            doing = f"list {kind} with {selector} in {namespace}"
            items = self._call(
                doing, self._method("list", kind), namespace, label_selector=selector
            ).items
            for item in items:
                obj = self.to_dict(item)
                obj["kind"] = kind
                found.append(obj)
        return found

    def delete_labelled(self, selector: str, namespace: str | None = None) -> list[str]:
        """Delete every object matching the selector; returns ``Kind/name`` of what went."""
        gone = []
        for obj in self.list_labelled(selector, namespace):
            name = obj["metadata"]["name"]
            if self.delete(obj["kind"], name, obj["metadata"]["namespace"]):
                gone.append(f"{obj['kind']}/{name}")
        return gone

    # -- pods --------------------------------------------------------------------------------
    def pods(self, selector: str, namespace: str | None = None) -> list[k8s.V1Pod]:
        namespace = namespace or self.namespace
        doing = f"list pods with {selector} in {namespace}"
        return self._call(
            doing, self.core.list_namespaced_pod, namespace, label_selector=selector
        ).items

    def node_images(self) -> list[set[str]] | None:
        """The image names each schedulable node reports having (``status.images``); None
        when nodes may not be listed (a namespaced user): callers then assume none."""
        nodes = self._call("list nodes", self.core.list_node, tolerate=403)
        if nodes is ABSENT:
            return None
        found = []
        for node in nodes.items:
            if node.spec is not None and node.spec.unschedulable:
                continue
            images = node.status.images or [] if node.status is not None else []
            found.append({name for image in images for name in image.names or []})
        return found

    def logs(
        self,
        pod: str,
        container: str | None = None,
        tail_lines: int | None = 200,
        namespace: str | None = None,
        previous: bool = False,
    ) -> str:
        namespace = namespace or self.namespace
        # Raw bytes: the generated client returns str(bytes) ("b'...'") for this endpoint.
        response = self._call(
            f"read logs of pod/{pod}",
            self.core.read_namespaced_pod_log,
            pod,
            namespace,
            container=container,
            tail_lines=tail_lines,
            previous=previous,
            _preload_content=False,
        )
        return response.data.decode("utf-8", "replace")

    def events(self, names: Iterable[str], namespace: str | None = None) -> list[k8s.CoreV1Event]:
        """Recent events about objects with these names (pods match by prefix), oldest first."""
        namespace = namespace or self.namespace
        wanted = tuple(names)
        items = self._call(
            f"list events in {namespace}", self.core.list_namespaced_event, namespace
        ).items
        hits = [e for e in items if e.involved_object.name.startswith(wanted)]
        return sorted(hits, key=lambda e: str(e.last_timestamp or e.event_time or ""))

    def delete_pod(self, name: str, namespace: str | None = None) -> bool:
        """Delete one pod (its Deployment starts another); False when it was already gone."""
        namespace = namespace or self.namespace
        result = self._call(
            f"delete pod/{name} in {namespace}",
            self.core.delete_namespaced_pod,
            name,
            namespace,
            tolerate=404,
        )
        return result is not ABSENT

    # -- watches -----------------------------------------------------------------------------
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
        with translated(f"exec {argv[0]} in pod/{pod}", also=(AttributeError,)):
            return stream(
                self.stream_core.connect_get_namespaced_pod_exec,
                pod,
                namespace,
                command=argv,
                _preload_content=False,
                **options,
            )

    def open_pipe(
        self, pod: str, argv: list[str], *, container: str, namespace: str | None = None
    ) -> ExecPipe:
        """Start ``argv`` in ``container`` of ``pod`` and keep its stream open, read frame by
        frame (:class:`~.pipe.ExecPipe`: the resident agent's transport)."""
        namespace = namespace or self.namespace
        return ExecPipe.open(self, pod, argv, container=container, namespace=namespace)

    def open_portforward(self, pod: str, port: int, namespace: str | None = None) -> Any:
        """Open a port-forward websocket to ``port`` of ``pod`` (the client's PortForward)."""
        namespace = namespace or self.namespace
        with translated(f"port-forward to pod/{pod}:{port}", also=(AttributeError,)):
            return portforward(
                self.stream_core.connect_get_namespaced_pod_portforward,
                pod,
                namespace,
                ports=str(port),
            )

    # -- commands in containers -------------------------------------------------------------
    def exec(self, pod: str, args: Sequence[str], **options: Any) -> ExecResult:
        """Run a command in a container of ``pod``: :func:`~.execs.exec_run` on this cluster."""
        return exec_run(self, pod, args, **options)

    # -- namespaces --------------------------------------------------------------------------
    def ensure_namespace(self, name: str, labels: dict[str, str]) -> bool:
        """Create a namespace if missing; True when this call created it."""
        body = k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels=labels))
        result = self._call(
            f"create namespace {name}", self.core.create_namespace, body, tolerate=409
        )
        return result is not ABSENT

    def namespaces(self, selector: str) -> list[k8s.V1Namespace]:
        """Namespaces matching a label selector (needs cluster-wide list rights: a 403 is a
        ClusterError with ``status`` 403)."""
        return self._call(
            f"list namespaces with {selector}", self.core.list_namespace, label_selector=selector
        ).items

    def namespace_phase(self, name: str) -> str | None:
        """``Active``/``Terminating``, or None when the namespace does not exist."""
        result = self._call(f"read namespace {name}", self.core.read_namespace, name, tolerate=404)
        return None if result is ABSENT else result.status.phase

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

    def version(self, timeout: float = 15.0) -> str:
        """The API server's version (``git_version``): the cheapest "does it answer" request."""
        api = k8s.VersionApi(self.api)
        return self._call(
            "read the server version", api.get_code, _request_timeout=timeout
        ).git_version

    def delete_namespace(self, name: str) -> bool:
        """Delete a namespace (and everything in it); False when it was already gone."""
        result = self._call(
            f"delete namespace {name}", self.core.delete_namespace, name, tolerate=404
        )
        return result is not ABSENT
