"""The push graph's tasks: create_resources -> wait_ready -> index -> copy ->
assemble_and_restart -> push (the stages and when each re-runs: :mod:`pyodo_tasks.tasks`).

One doit run makes one cheap check when there is nothing to do: a pod list showing the running
pod of the rendered spec (the pod carries the spec hash). Then create_resources is up to date,
wait_ready has nothing to wait for, and index/copy/build answer from local state (the index and
the state file). Anything else takes the full path.
"""

from __future__ import annotations

from typing import Any

from doit.task import result_dep

from pyodo_tasks.errors import PyodoError
from pyodo_tasks.tasks.bound import BoundComponent, Task, say, task

__all__ = ["PushTasks"]


class PushTasks(BoundComponent):
    """The push graph's actions (plain callables; doit's result contract) and task dicts."""

    #: The one cheap check's answer in a 1-tuple (the running pod, or None) once made.
    _checked: tuple[Any] | None = None
    #: The pod wait_ready found, for the stages after it.
    _pod: Any = None

    def _current(self) -> Any:
        if self._checked is None:
            try:
                self._checked = (self.component.current_pod(),)
            except PyodoError:
                self._checked = (None,)
        return self._checked[0]

    def _apply(self) -> dict[str, str]:
        applied = self.component.apply(force=True)
        self._checked = (None,)  # a new rollout: wait for it
        self.component.state.update(cluster_ip=None)
        say(f"Applied {', '.join(applied)} in namespace {self.component.namespace}")
        return {"spec_hash": self.component.spec_hash()}

    def _resources_uptodate(self, task: Any = None, values: Any = None) -> bool:
        if self._current() is not None:
            return True
        try:
            return self.component.resources_uptodate()
        except PyodoError:
            return False  # let the action run and report the error properly

    def _wait(self) -> None:
        pod = self._current() or self.component.wait_ready()
        self._pod = pod
        say(f"Pod {pod.metadata.name} is running")

    def _index(self) -> str:
        return self.component.sync_digest(self._pod)

    def _copy(self) -> str:
        # Sync, and build-and-restart when anything moved, in one exchange with the agent:
        # the assemble_and_restart task then finds the build done.
        delivery = self.component.deliver(say, pod=self._pod)
        return delivery.sync.digest

    def _build(self) -> None:
        component = self.component
        digest = component.sync_digest(self._pod)
        if component.build_uptodate(digest):
            return
        component.build(output=say, pod=self._pod)
        component.mark_built(digest)

    def _report(self) -> None:
        component = self.component
        try:
            url = component.service_url()
        except PyodoError:
            say(f"Component {component.name} is pushed (no endpoints)")
            return
        cluster_ip = component.state.get("cluster_ip")
        if not cluster_ip:  # read once; a Service keeps its ClusterIP while it exists
            service = component.kube.get("Service", component.name) or {}
            cluster_ip = (service.get("spec") or {}).get("clusterIP")
            component.state.update(cluster_ip=cluster_ip)
        also = f" (ClusterIP {cluster_ip})" if cluster_ip else ""
        say(f"Component {component.name} is pushed: {url}{also}")
        say("Reach it from here with: doit forward")

    def _create_resources_task(self) -> Task:
        try:
            file_dep = [self.devfile_path()]
        except PyodoError:
            file_dep = []  # the action reports the missing devfile
        doc = "Apply Deployment, Service, Secrets and PVCs (only when the spec changed)"
        return {**task(doc, self._apply, uptodate=self._resources_uptodate), "file_dep": file_dep}

    def _wait_ready_task(self) -> Task:
        doc = "Wait until the component's pod runs (bounded)"
        return task(doc, self._wait, after="create_resources")

    def _index_task(self) -> Task:
        doc = "Index the source tree; its result is the digest of tree and pod"
        return task(doc, self._index, after="wait_ready")

    def _copy_task(self) -> Task:
        doc = "Copy created, modified and renamed files; delete removed ones"
        return task(doc, self._copy, uptodate=result_dep("index"))

    def _build_task(self) -> Task:
        doc = "Build in the container and restart the app through the supervisor"
        return task(doc, self._build, uptodate=result_dep("copy"))

    def _push_task(self) -> Task:
        doc = "Deploy the component and sync it (runs the whole graph)"
        return task(doc, self._report, after="assemble_and_restart")
