"""The one in-memory fake of :class:`pyodo_tasks.core.kube.Kube` for tests that need no cluster.

It subclasses ``Kube`` and replaces only the methods that talk to the API server, so what Kube
builds on top of them (``delete_labelled``, the deletion waits, ``__enter__``) is the real code.
Objects, pods, namespaces, events and logs live in dicts; label selectors match like the API
server's equality and existence terms.

Failures are injected the way the cluster produces them: ``kube.fail("apply", exc)`` makes the
next calls of ``apply`` raise the *client's* exception ``exc`` through the real translation table
(:func:`pyodo_tasks.core.kube.translate`), so callers see exactly the ClusterError they would see
on a real cluster (with ``status``/``retryable``).

Pods are read the other way round: the fake answers the client calls Kube's pod methods make
(``core``, see :class:`_PodsCore`), so what those methods do with the answers (node filtering,
event order, log decoding, a 404 or 403 tolerated) is the real code too.

What it cannot do is anything that claims the cluster did something: streams (exec over a
websocket, port-forward) and watches raise; tests of those carry the ``cluster`` marker.
``exec`` is answered by ``exec_handler`` (default: exit 0, no output), which is enough for
the engine's pure logic around commands (sync steps, error messages, state bookkeeping).
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from pyodo_tasks.core.kube import ExecResult, Kube, ResolvedTarget, translate
from pyodo_tasks.core.kube.client import KINDS
from pyodo_tasks.errors import ClusterError
from pyodo_tasks.runtime import contract

__all__ = ["FakeKube", "container_status", "make_pod", "matches"]

ExecHandler = Callable[[str, tuple[str, ...], str | None, bytes | None], ExecResult]
_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
_SERIAL = itertools.count(1)


def matches(selector: str, labels: Mapping[str, str] | None) -> bool:
    """The API server's equality (``k=v``, ``k!=v``) and existence (``k``) selector terms."""
    labels = labels or {}
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key.rstrip("=")) != value.lstrip("="):
                return False
        elif term not in labels:
            return False
    return True


def container_status(
    name: str,
    *,
    running: bool = True,
    waiting: str | None = None,
    message: str | None = None,
    terminated: tuple[int, str] | None = None,
    image: str = "image:latest",
    container_id: str | None = None,
    restarts: int = 0,
) -> k8s.V1ContainerStatus:
    """A container status: running, ``waiting`` with a reason, or ``terminated`` (code, reason)."""
    if waiting is not None:
        state = k8s.V1ContainerState(
            waiting=k8s.V1ContainerStateWaiting(reason=waiting, message=message)
        )
    elif terminated is not None:
        code, reason = terminated
        state = k8s.V1ContainerState(
            terminated=k8s.V1ContainerStateTerminated(
                exit_code=code, reason=reason, message=message
            )
        )
    elif running:
        state = k8s.V1ContainerState(running=k8s.V1ContainerStateRunning(started_at=_EPOCH))
    else:
        state = k8s.V1ContainerState()
    return k8s.V1ContainerStatus(
        name=name,
        image=image,
        image_id="",
        ready=running and waiting is None and terminated is None,
        restart_count=restarts,
        state=state,
        container_id=container_id if container_id is not None else f"containerd://{name}-1",
    )


def make_pod(
    name: str,
    labels: Mapping[str, str] | None = None,
    *,
    phase: str = "Running",
    containers: Sequence[k8s.V1ContainerStatus] = (),
    init_containers: Sequence[k8s.V1ContainerStatus] = (),
    conditions: Sequence[tuple[str, str, str | None]] = (),
    deleting: bool = False,
    created: int | None = None,
    uid: str | None = None,
    namespace: str = "ns",
) -> k8s.V1Pod:
    """A pod as the client returns it; ``conditions`` are ``(type, status, message)``."""
    serial = next(_SERIAL)
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(
            name=name,
            namespace=namespace,
            labels=dict(labels or {}),
            uid=uid or f"uid-{name}-{serial}",
            creation_timestamp=_EPOCH + dt.timedelta(seconds=created or serial),
            deletion_timestamp=_EPOCH if deleting else None,
        ),
        status=k8s.V1PodStatus(
            phase=phase,
            container_statuses=list(containers) or None,
            init_container_statuses=list(init_containers) or None,
            conditions=[k8s.V1PodCondition(type=t, status=s, message=m) for t, s, m in conditions]
            or None,
        ),
    )


def _ok(pod: str, args: tuple[str, ...], container: str | None, data: bytes | None) -> ExecResult:
    return ExecResult(args, 0, b"", b"")


class _PodsCore:
    """The ``CoreV1Api`` calls :class:`~pyodo_tasks.core.kube.pods.PodsApi` makes, answered
    from the fake's dicts; each is recorded under the Kube method's name (``kube.fail("pods",
    exc)`` makes ``list_namespaced_pod`` raise ``exc``)."""

    def __init__(self, kube: FakeKube) -> None:
        self.kube = kube

    def list_node(self) -> k8s.V1NodeList:
        if self.kube.node_image_list is None:
            raise ApiException(status=403, reason="Forbidden")
        return k8s.V1NodeList(
            items=[
                k8s.V1Node(
                    status=k8s.V1NodeStatus(images=[k8s.V1ContainerImage(names=sorted(names))])
                )
                for names in self.kube.node_image_list
            ]
        )

    def list_namespaced_pod(self, namespace: str, label_selector: str) -> k8s.V1PodList:
        self.kube.answer("pods", label_selector)
        pods = self.kube.pod_objects.items()
        return k8s.V1PodList(
            items=[
                pod
                for (ns, _), pod in pods
                if ns == namespace and matches(label_selector, pod.metadata.labels)
            ]
        )

    def read_namespaced_pod_log(
        self, name: str, namespace: str, *, container: str | None, tail_lines: int | None, **_: Any
    ) -> SimpleNamespace:
        """The raw response Kube asks for (``_preload_content=False``): bytes in ``data``."""
        self.kube.answer("logs", name, container)
        lines = self.kube.log_text.get(name, "").splitlines()
        return SimpleNamespace(
            data="\n".join(lines[-tail_lines:] if tail_lines else lines).encode()
        )

    def list_namespaced_event(self, namespace: str) -> k8s.CoreV1EventList:
        self.kube.answer("events")
        return k8s.CoreV1EventList(items=list(self.kube.event_list))

    def delete_namespaced_pod(self, name: str, namespace: str) -> None:
        self.kube.answer("delete_pod", name)
        if self.kube.pod_objects.pop((namespace, name), None) is None:
            raise ApiException(status=404, reason="Not Found")


class FakeKube(Kube):
    """An in-memory cluster behind Kube's interface (see the module docstring)."""

    def __init__(
        self,
        namespace: str = "ns",
        *,
        context: str = "fake-ctx",
        kubeconfig: str = "fake.kubeconfig",
        auto_rollout: bool = False,
    ) -> None:
        # Deliberately not Kube.__init__: no kubeconfig, no ApiClient, no connection.
        self.target = ResolvedTarget(kubeconfig, context, namespace, True)
        self.namespace = namespace
        #: Applying a Deployment completes its rollout at once with one Running pod.
        self.auto_rollout = auto_rollout
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.pod_objects: dict[tuple[str, str], k8s.V1Pod] = {}
        self.namespace_labels: dict[str, dict[str, str]] = {}
        self.terminating: set[str] = set()
        self.event_list: list[k8s.CoreV1Event] = []
        self.log_text: dict[str, str] = {}
        self.exec_handler: ExecHandler = _ok
        self.execs: list[tuple[str, tuple[str, ...], str | None, bytes | None]] = []
        self.calls: list[tuple[str, Any]] = []
        self.failures: dict[str, BaseException] = {}
        #: What each node has (``Kube.node_images``): pyodo's init image, as on pyodo's own
        #: clusters, so the "auto" layout is the init containers'; None: nodes not listable.
        self.node_image_list: list[set[str]] | None = [{contract.INIT_REF}]
        #: Deletions are accepted but never finish (a stuck finalizer).
        self.stuck = False
        #: Namespace create/list answer 403, like a namespace-restricted user.
        self.forbid_namespaces = False
        self.closed = False
        self.core = _PodsCore(self)  # type: ignore[assignment]

    # -- test controls ---------------------------------------------------------------------
    def fail(self, method: str, exc: BaseException) -> None:
        """Make ``method`` raise the client's ``exc`` (through the translation table)."""
        self.failures[method] = exc

    def heal(self, method: str | None = None) -> None:
        if method is None:
            self.failures.clear()
        else:
            self.failures.pop(method, None)

    def answer(self, method: str, *args: Any) -> None:
        """Record a call of ``method``; raise the client's exception injected for it."""
        self.calls.append((method, args))
        if method in self.failures:
            raise self.failures[method]

    def _enter(self, method: str, doing: str, *args: Any) -> None:
        """A call the fake answers itself: an injected failure translated as Kube would."""
        try:
            self.answer(method, *args)
        except BaseException as exc:
            raise translate(exc, doing) from exc

    def add_pod(self, pod: k8s.V1Pod) -> k8s.V1Pod:
        self.pod_objects[(pod.metadata.namespace or self.namespace, pod.metadata.name)] = pod
        return pod

    def roll_out(self, name: str, *, pods: Sequence[k8s.V1Pod] | None = None) -> None:
        """Mark ``Deployment/name`` fully rolled out; by default with one Running pod."""
        deployment = self.objects[(self.namespace, "Deployment", name)]
        replicas = deployment["spec"].get("replicas", 1)
        deployment["status"] = {
            "observedGeneration": deployment["metadata"].get("generation", 1),
            "replicas": replicas,
            "updatedReplicas": replicas,
            "availableReplicas": replicas,
        }
        if pods is None:
            template = deployment["spec"]["template"]
            labels = template["metadata"].get("labels") or {}
            names = [c["name"] for c in template["spec"].get("containers", [])]
            pods = [
                make_pod(
                    f"{name}-pod",
                    labels,
                    containers=[container_status(n) for n in names],
                    namespace=self.namespace,
                )
            ]
        for key in [k for k, p in self.pod_objects.items() if p.metadata.name.startswith(name)]:
            del self.pod_objects[key]
        for pod in pods:
            self.add_pod(pod)

    def add_event(self, involved: str, reason: str, message: str, kind: str = "Pod") -> None:
        self.event_list.append(
            k8s.CoreV1Event(
                metadata=k8s.V1ObjectMeta(name=f"{involved}.{len(self.event_list)}"),
                involved_object=k8s.V1ObjectReference(kind=kind, name=involved),
                type="Warning",
                reason=reason,
                message=message,
                last_timestamp=_EPOCH + dt.timedelta(seconds=len(self.event_list)),
            )
        )

    # -- objects ---------------------------------------------------------------------------
    def close(self) -> None:
        self.closed = True

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        kind, name = obj["kind"], obj["metadata"]["name"]
        namespace = obj["metadata"].get("namespace") or self.namespace
        self._enter("apply", f"apply {kind}/{name} in {namespace}", obj)
        if kind not in KINDS and kind != "Namespace":
            raise ClusterError(f"pyodo does not manage objects of kind {kind}")
        stored = copy.deepcopy(obj)
        old = self.objects.get((namespace, kind, name))
        stored["metadata"]["namespace"] = namespace
        generation = (old or {}).get("metadata", {}).get("generation", 0)
        changed = old is None or old.get("spec") != stored.get("spec")
        stored["metadata"]["generation"] = generation + 1 if changed else generation
        stored.setdefault("status", (old or {}).get("status", {}))
        self.objects[(namespace, kind, name)] = stored
        if kind == "Deployment" and self.auto_rollout:
            self.roll_out(name)
        return copy.deepcopy(stored)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        namespace = namespace or self.namespace
        self._enter("get", f"read {kind}/{name} in {namespace}", kind, name)
        found = self.objects.get((namespace, kind, name))
        return copy.deepcopy(found) if found is not None else None

    def delete_object(self, obj: dict[str, Any]) -> bool:
        """Any kind: the fake keeps every object by (namespace, kind, name)."""
        meta = obj["metadata"]
        return self.delete(obj["kind"], meta["name"], meta.get("namespace"))

    def delete(self, kind: str, name: str, namespace: str | None = None) -> bool:
        namespace = namespace or self.namespace
        self._enter("delete", f"delete {kind}/{name} in {namespace}", kind, name)
        if (namespace, kind, name) not in self.objects:
            return False
        if not self.stuck:
            del self.objects[(namespace, kind, name)]
            if kind == "Deployment":
                for key in [k for k, p in self.pod_objects.items() if k[0] == namespace]:
                    del self.pod_objects[key]
        return True

    def list_labelled(
        self, selector: str, namespace: str | None = None, kinds: Iterable[str] = KINDS
    ) -> list[dict[str, Any]]:
        namespace = namespace or self.namespace
        self._enter("list_labelled", f"list with {selector} in {namespace}", selector)
        wanted = tuple(kinds)
        return [
            copy.deepcopy(obj)
            for (ns, kind, _), obj in sorted(self.objects.items())
            if ns == namespace
            and kind in wanted
            and matches(selector, obj["metadata"].get("labels"))
        ]

    # -- exec ------------------------------------------------------------------------------
    def exec(self, pod: str, args: Sequence[str], **options: Any) -> ExecResult:
        """Answer from ``exec_handler``; stdin is read to the end, output fed to callbacks."""
        argv = tuple(args)
        self._enter("exec", f"exec {argv[0]} in pod/{pod}", pod, argv)
        data = options.get("input")
        if data is not None and not isinstance(data, bytes):
            data = b"".join(data)
        container = options.get("container")
        self.execs.append((pod, argv, container, data))
        result = self.exec_handler(pod, argv, container, data)
        for key, stream in (("on_stdout", result.stdout), ("on_stderr", result.stderr)):
            if options.get(key) is not None and stream:
                options[key](stream)
        if options.get("check"):
            result.check_returncode(f"pod/{pod}")
        return result

    # -- namespaces ------------------------------------------------------------------------
    def _forbidden(self, doing: str) -> None:
        if self.forbid_namespaces:
            exc = ApiException(status=403, reason="Forbidden")
            raise translate(exc, doing) from exc

    def ensure_namespace(self, name: str, labels: dict[str, str]) -> bool:
        self._enter("ensure_namespace", f"create namespace {name}", name, labels)
        self._forbidden(f"create namespace {name}")
        if name in self.namespace_labels:
            return False
        self.namespace_labels[name] = dict(labels)
        return True

    def delete_namespace(self, name: str) -> bool:
        self._enter("delete_namespace", f"delete namespace {name}", name)
        if name not in self.namespace_labels:
            return False
        if self.stuck:
            self.terminating.add(name)
        else:
            del self.namespace_labels[name]
        return True

    def namespaces(self, selector: str) -> list[k8s.V1Namespace]:
        self._enter("namespaces", f"list namespaces with {selector}", selector)
        self._forbidden(f"list namespaces with {selector}")
        return [
            k8s.V1Namespace(
                metadata=k8s.V1ObjectMeta(name=name, labels=labels),
                status=k8s.V1NamespaceStatus(
                    phase="Terminating" if name in self.terminating else "Active"
                ),
            )
            for name, labels in self.namespace_labels.items()
            if matches(selector, labels)
        ]

    def namespace_phase(self, name: str) -> str | None:
        self._enter("namespace_phase", f"read namespace {name}", name)
        if name not in self.namespace_labels:
            return None
        return "Terminating" if name in self.terminating else "Active"

    def version(self, timeout: float = 15.0) -> str:
        self._enter("version", "read the server version")
        return "v1.31.0-fake"

    def changes(
        self, kind: str, *, selector: str | None = None, name: str | None = None
    ) -> Callable[[float], None]:
        """No watches here: a pause is a plain sleep."""
        return time.sleep

    # -- what needs a real cluster ---------------------------------------------------------
    def _no_stream(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "FakeKube has no websocket streams or watches: test this on the real cluster "
            "(marker `cluster`)"
        )

    open_exec = _no_stream
    open_pipe = _no_stream
    open_portforward = _no_stream
    list_function = _no_stream
