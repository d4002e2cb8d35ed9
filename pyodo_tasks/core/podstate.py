"""Pod-state rules: what a Deployment's and its pods' status say about a push in progress.

Pure functions over the objects :class:`~pyodo_tasks.core.kube.Kube` returns (the Deployment as
a dict, pods as the client's ``V1Pod``), so they are unit-tested without a cluster. They answer
three questions: is the rollout done (and if not, what is it waiting for), has something failed
that will not fix itself (fail at once, naming the fix), and which container instance runs now.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pyodo_tasks.errors import ClusterError, InitImageUnavailable, RuntimeDeliveryError

__all__ = [
    "FATAL_WAITING",
    "INIT_CONTAINERS",
    "check_pod",
    "container_instance",
    "container_statuses",
    "describe_container",
    "live_pods",
    "newest_running",
    "pending_pod_state",
    "rollout_state",
]

#: Waiting reasons that will not fix themselves: fail at once and say what to do.
FATAL_WAITING = {
    "ErrImagePull": "the image cannot be pulled; load it into the cluster or override it with "
    "PYODO_IMAGE_<CONTAINER>",
    "ImagePullBackOff": "the image cannot be pulled; load it into the cluster or override it "
    "with PYODO_IMAGE_<CONTAINER>",
    "ErrImageNeverPull": "the image is not on the node; load it into the cluster",
    "InvalidImageName": "the image name is invalid; fix components[].container.image",
    "CreateContainerConfigError": "the container config is invalid (missing Secret or ConfigMap?)",
    "CreateContainerError": "the runtime could not create the container",
    "CrashLoopBackOff": "a container keeps crashing; see its logs",
}

#: pyodo's init containers (the pod contract): a non-zero exit of one is fatal.
INIT_CONTAINERS = ("copy-supervisord", "copy-files-to-volume")


def live_pods(pods: Iterable[Any]) -> list[Any]:
    """Pods not being deleted."""
    return [p for p in pods if p.metadata.deletion_timestamp is None]


def newest_running(pods: Iterable[Any]) -> Any | None:
    """The newest Running pod that is not being deleted, or None."""
    running = [p for p in live_pods(pods) if p.status.phase == "Running"]
    return max(running, key=lambda p: p.metadata.creation_timestamp) if running else None


def container_statuses(pod: Any) -> list[Any]:
    """Init container statuses, then app container statuses."""
    return (pod.status.init_container_statuses or []) + (pod.status.container_statuses or [])


#: What to do when pyodo's own init image cannot be pulled (it is not the devfile's).
INIT_IMAGE_FIX = (
    "pyodo's init image is not on this cluster: set PYODO_INIT_IMAGE (--pyodo-init-image, "
    "doit push init_image=REF) to a copy the cluster can pull (`doit init_image tag=REF "
    "push=true` makes one), or use PYODO_LAYOUT=inject, which needs no init image"
)
_NO_SHELL_FIX = (
    "pyodo starts the app container (the inject layout's wait loop) and copy-files-to-volume "
    "with the image's sh; use an image with a shell (not distroless), e.g. a builder image "
    "through PYODO_IMAGE_<CONTAINER>"
)
_PULL_FAILURES = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull")


def _no_shell(status: Any) -> str | None:
    """The runtime's words when the container could not start because its image has no
    ``/bin/sh`` (the inject layout's wait loop), from its state or its last state."""
    for state in (status.state, getattr(status, "last_state", None)):
        for part in (getattr(state, "terminated", None), getattr(state, "waiting", None)):
            message = getattr(part, "message", None) or ""
            if "/bin/sh" in message and ("no such file" in message or "not found" in message):
                return message
    return None


def check_pod(pod: Any) -> None:
    """Raise :class:`ClusterError` when the pod is in a state that will not fix itself."""
    for status in container_statuses(pod):
        where = f"pod/{pod.metadata.name} container {status.name} image {status.image}"
        waiting = status.state.waiting if status.state else None
        reason = waiting.reason if waiting is not None else None
        if reason in _PULL_FAILURES and status.name == "copy-supervisord":
            raise InitImageUnavailable(f"{where}: {reason}: {INIT_IMAGE_FIX}")
        if _no_shell(status) is not None:
            raise RuntimeDeliveryError(f"{where}: the image has no /bin/sh: {_NO_SHELL_FIX}")
        if waiting is not None and waiting.reason in FATAL_WAITING:
            detail = f" ({waiting.message})" if waiting.message else ""
            raise ClusterError(
                f"{where}: {waiting.reason}{detail}: {FATAL_WAITING[waiting.reason]}"
            )
        terminated = status.state.terminated if status.state else None
        if terminated is not None and terminated.exit_code and status.name in INIT_CONTAINERS:
            raise ClusterError(
                f"pod/{pod.metadata.name} init container {status.name} exited "
                f"{terminated.exit_code}: {terminated.message or terminated.reason}"
            )


def pending_pod_state(pods: Sequence[Any]) -> str:
    """What the newest live pod is still waiting for, in one line."""
    live = live_pods(pods)
    if not live:
        return "no pod yet"
    pod = live[-1]
    for condition in pod.status.conditions or []:
        if condition.status != "True" and condition.message:
            return f"pod/{pod.metadata.name} {condition.type}: {condition.message}"
    for status in container_statuses(pod):
        waiting = status.state.waiting if status.state else None
        if waiting is not None:
            return f"pod/{pod.metadata.name} container {status.name}: {waiting.reason}"
    return f"pod/{pod.metadata.name} phase {pod.status.phase}"


def rollout_state(name: str, deployment: dict[str, Any] | None, pods: Sequence[Any]) -> str | None:
    """None when the rollout of ``Deployment/name`` is complete; else what is still pending.

    Raises :class:`ClusterError` on fatal pod states and on ``ProgressDeadlineExceeded``.
    """
    if deployment is None:
        return f"Deployment/{name} does not exist"
    for pod in live_pods(pods):
        check_pod(pod)
    spec, status = deployment["spec"], deployment.get("status") or {}
    generation = deployment["metadata"].get("generation", 0)
    for condition in status.get("conditions") or []:
        if condition.get("reason") == "ProgressDeadlineExceeded":
            raise ClusterError(f"Deployment/{name}: {condition.get('message')}")
    if status.get("observedGeneration", 0) < generation:
        return "waiting for the Deployment spec update to be observed"
    wanted = spec.get("replicas", 1)
    if status.get("updatedReplicas", 0) < wanted:
        return f"{status.get('updatedReplicas', 0)} of {wanted} pods updated"
    if status.get("replicas", 0) > status.get("updatedReplicas", 0):
        return "old pod still terminating"
    if status.get("availableReplicas", 0) < wanted:
        return pending_pod_state(pods)
    return None


def container_instance(pod: Any, container: str) -> str:
    """Identifies a container's current instance: pod uid plus container id.

    Synced sources live in the container's writable layer, so a restarted container (same
    pod, new container id) has lost them and needs a full sync and a build.
    """
    for status in pod.status.container_statuses or []:
        if status.name == container:
            return f"{pod.metadata.uid}/{status.container_id or ''}"
    return f"{pod.metadata.uid}/"


def describe_container(status: Any) -> str:
    """``running``, ``waiting <reason>``, ``terminated <reason> (<code>)`` or ``unknown``."""
    state = status.state
    if state.running:
        return "running"
    if state.waiting:
        return f"waiting {state.waiting.reason}"
    if state.terminated:
        return f"terminated {state.terminated.reason} ({state.terminated.exit_code})"
    return "unknown"


def current_pod(pods: Sequence[Any], spec_hash: str, container: str) -> Any | None:
    """The pod when a pod list alone shows a finished rollout of this spec: exactly one live
    pod, Running, carrying ``spec_hash`` (render stamps it on the pod template), with
    ``container`` running and ready. None when any of that is not so (then wait properly)."""
    live = live_pods(pods)
    if len(live) != 1 or len(live) != len(list(pods)):
        return None
    pod = live[0]
    annotations = pod.metadata.annotations or {}
    if pod.status.phase != "Running" or annotations.get("pyodo.dev/spec-hash") != spec_hash:
        return None
    for status in pod.status.container_statuses or []:
        if status.name == container:
            return pod if status.ready and status.state and status.state.running else None
    return None
