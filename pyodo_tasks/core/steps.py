"""What runs in the component's containers besides the app: the devfile's steps (``postStart``
once per container instance, the build, steps in other containers, ``preStop``) and, in the
inject layout, pyodo's runtime put in before the first of them.

Each step is one exec with its output streamed (:func:`.commands.run_streamed`); the state file
remembers which container instance ran ``postStart`` and has the runtime, so neither runs twice.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyodo_tasks.core.commands import Output, quiet, run_streamed
from pyodo_tasks.core.connection import Connection
from pyodo_tasks.core.inject import ensure_runtime
from pyodo_tasks.core.pods import Pods
from pyodo_tasks.core.spec import Spec
from pyodo_tasks.core.workspace import Workspace
from pyodo_tasks.errors import PyodoError
from pyodo_tasks.runtime import contract

if TYPE_CHECKING:
    from kubernetes import client as k8s

    from pyodo_tasks.core.kube import ExecResult

__all__ = ["Steps"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Steps:
    """The devfile's steps of the component ``spec`` renders, run in its pods; the devfile and
    name are the spec's, the state file the workspace's (read there, never copied)."""

    spec: Spec
    pods: Pods
    workspace: Workspace
    connection: Connection

    def ensure_runtime(self, pod: k8s.V1Pod, output: Output | None = None) -> None:
        """In the inject layout, put this pyodo's runtime into the app container unless the
        state file says this container instance has it (:mod:`.inject`); else nothing."""
        if self.spec.context.layout != contract.LAYOUT_INJECT:
            return
        mark = f"{self.workspace.container_instance(pod)}:{self.spec.context.runtime}"
        if self.workspace.state.get("runtime") == mark:
            return
        name, app = pod.metadata.name, self.spec.devfile.app_container

        def run(args: list[str], *, input: bytes | None = None, timeout: float = 60.0) -> Any:
            return self.connection.kube.exec(
                name, args, container=app.name, input=input, timeout=timeout
            )

        done = ensure_runtime(run, f"pod/{name} container {app.name}", app.image, output)
        log.debug("runtime in pod/%s: %d bytes in %.0f ms", name, done.sent, done.seconds * 1000)
        self.workspace.state.update(runtime=mark)

    def post_start(self, output: Output | None = None, timeout: float = 600.0) -> bool:
        """Run ``events.postStart`` once per app container instance; True when they ran.

        They run after the container's first sync (so they see the sources) and before its
        first build, each in its own command's container.
        """
        steps = self.spec.devfile.post_start_steps()
        pod = self.pods.pod()
        instance = self.workspace.container_instance(pod)
        if not self.post_start_due(instance):
            return False
        say = output or quiet
        for container, script in steps:
            say(f"[pyodo] postStart in {container}: {script}")
            self._run_step("postStart", pod.metadata.name, container, script, timeout, say)
        self.workspace.state.update(post_start=instance)
        return True

    def _run_step(
        self, what: str, pod: str, container: str, script: str, timeout: float, say: Output
    ) -> None:
        """One devfile step outside the app's build (an event's, ``postStart``/``preStop``, or
        a command's step in another container): its command line run by ``sh -c`` in its
        container, its lines streamed to ``say``; CommandError naming ``what`` on failure."""
        context = f"{what} of component {self.spec.name} in pod/{pod}"
        run_streamed(
            self.connection.kube,
            pod,
            ["sh", "-c", script],
            container=container,
            timeout=timeout,
            say=say,
            context=context,
        )

    def post_start_due(self, instance: str) -> bool:
        """True when ``events.postStart`` has not run yet in this container instance."""
        return (
            bool(self.spec.devfile.post_start_steps())
            and self.workspace.state.get("post_start") != instance
        )

    def build(
        self, output: Output | None = None, timeout: float = 900.0, pod: k8s.V1Pod | None = None
    ) -> ExecResult:
        """Run postStart events if this container has not yet, then ``assemble-and-restart``
        in the app container, streaming its output (one exec; see :func:`.delivery.deliver`)."""
        self.post_start(output)
        pod = pod.metadata.name if pod is not None else self.pods.pod_name()
        self.run_sidecar_steps("build", pod, output or quiet, timeout)
        return run_streamed(
            self.connection.kube,
            pod,
            list(contract.ASSEMBLE_AND_RESTART_COMMAND),
            container=self.spec.devfile.app_container.name,
            timeout=timeout,
            say=output or quiet,
            shown_as=["assemble-and-restart"],
            context=f"pod/{pod} (component {self.spec.name})",
        )

    def run_sidecar_steps(self, kind: str, pod: str, say: Output, timeout: float) -> None:
        """Run the ``kind`` command's steps that belong to other containers than the app's,
        each in its own container; a parallel composite's steps run together."""
        runs = list(self.spec.devfile.sidecar_runs(kind))
        while runs:
            batch = [runs.pop(0)]
            while batch[0][2] and runs and runs[0][2]:
                batch.append(runs.pop(0))
            for container, script, _ in batch:
                say(f"[pyodo] {kind} in {container}: {script}")
            steps = [
                functools.partial(self._run_step, kind, pod, container, script, timeout, say)
                for container, script, _ in batch
            ]
            if len(steps) == 1:
                steps[0]()
                continue
            with concurrent.futures.ThreadPoolExecutor(len(steps)) as pool:
                for future in [pool.submit(step) for step in steps]:
                    future.result()

    def pre_stop(self, timeout: float = 60.0) -> None:
        """Run ``events.preStop`` in the running pod, each step in its container; a pod that is
        not running has nothing to stop, and a failing step is logged, never blocks the delete."""
        steps = self.spec.devfile.pre_stop_steps()
        if not steps:
            return
        pod = self.pods.newest_running()
        if pod is None:
            return
        for container, script in steps:
            try:
                self._run_step("preStop", pod.metadata.name, container, script, timeout, quiet)
            except PyodoError as exc:
                log.warning("preStop step in %s failed: %s", container, exc)
