"""A component's pods: which one runs this spec, and the bounded wait for its rollout.

The rules (ready? fatal? which pod is the newest?) are :mod:`.podstate`'s, pure; here they are
applied to what the cluster lists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyodo_tasks.core import podstate
from pyodo_tasks.core.connection import Connection
from pyodo_tasks.core.render import component_selector
from pyodo_tasks.core.spec import Spec
from pyodo_tasks.core.wait import wait_for
from pyodo_tasks.errors import ClusterError, InitImageUnavailable

if TYPE_CHECKING:
    from kubernetes import client as k8s

__all__ = ["Pods"]


class Pods:
    """The pods of the component ``spec`` renders, found by its selector."""

    def __init__(self, spec: Spec, connection: Connection) -> None:
        self.spec = spec
        self.connection = connection
        self.name = spec.name
        self.app = spec.devfile.app_container.name

    @property
    def selector(self) -> str:
        return ",".join(f"{k}={v}" for k, v in component_selector(self.name).items())

    def pod(self) -> k8s.V1Pod:
        """The component's running pod (not one being deleted); one pod list, made without the
        client while none is loaded (:meth:`Connection.cheap_pods`)."""
        pod = podstate.newest_running(self.connection.cheap_pods(self.selector))
        if pod is None:
            raise ClusterError(
                f"component {self.name} has no running pod in {self.connection.namespace}: "
                "push it first"
            )
        return pod

    def newest_running(self) -> k8s.V1Pod | None:
        """The running pod if there is one (for steps that have nothing to do without it)."""
        return podstate.newest_running(self.connection.kube.pods(self.selector))

    def current_pod(self) -> k8s.V1Pod | None:
        """The running pod of exactly this spec with the rollout finished, from ONE pod list;
        None when that cannot be told so cheaply (then apply and :meth:`wait_ready`).

        Before the client is loaded the list is made without it (:mod:`.kube.quick`), falling
        back to the client when that cannot answer."""
        pods = self.connection.cheap_pods(self.selector)
        return podstate.current_pod(pods, self.spec.spec_hash(), self.app)

    def pod_name(self) -> str:
        return str(self.pod().metadata.name)

    def wait_ready(self, timeout: float = 300.0, poll: float = 0.5) -> k8s.V1Pod:
        """Wait until the rollout is complete and the app container runs; return the pod.

        Under the ``auto`` layout a pod whose init image cannot be pulled after all (the nodes'
        image lists lag behind a removal) is replaced by one of the inject layout
        (:meth:`Spec.fall_back_to_inject`), and waited for in turn."""
        try:
            return self._wait_ready(timeout, poll)
        except InitImageUnavailable:
            if not self.spec.fall_back_to_inject():
                raise
        return self._wait_ready(timeout, poll)

    def _wait_ready(self, timeout: float, poll: float) -> k8s.V1Pod:
        kube = self.connection.kube

        def probe() -> tuple[k8s.V1Pod | None, str]:
            deployment = kube.get("Deployment", self.name)
            pods = kube.pods(self.selector) if deployment is not None else []
            state = podstate.rollout_state(self.name, deployment, pods)
            return (self.pod(), "ready") if state is None else (None, state)

        pause = kube.changes("Pod", selector=self.selector)  # a pod event: probe at once
        return wait_for(probe, f"component {self.name} to become ready", timeout, poll, pause=pause)
