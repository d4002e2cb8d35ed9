"""The push workflow as a doit task graph.

``ComponentTasks(path).tasks()`` yields plain doit task dicts (unit-tested as dicts)::

    create_resources -> wait_ready -> index -> copy -> assemble_and_restart -> push

Each stage re-runs only when its input changed: ``create_resources`` when the rendered spec
differs from the live one (one read), ``copy`` when the index digest (tree + pod) differs from
the one it last copied (``result_dep``), ``assemble_and_restart`` when the copy's result changed
or the last build failed. So ``doit push`` with nothing changed makes no cluster write and runs
no build. ``forward``, ``delete``, ``logs``, ``verify`` and ``why`` act on the running component.

Every action and ``uptodate`` check goes through :func:`~pyodo_tasks.tasks.guard.guarded`: a
failure is one line and exit status 1, never a traceback (see :mod:`pyodo_tasks.failures`).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from doit.task import result_dep

from pyodo_tasks.core.component import Component
from pyodo_tasks.core.devfile import REGISTRY_ENV, ImageOverrides
from pyodo_tasks.core.endpoints import matching_url, shown_scheme
from pyodo_tasks.core.kube.target import Target
from pyodo_tasks.core.teardown import delete_labelled_component, orphan_of
from pyodo_tasks.errors import DevfileError, PyodoError
from pyodo_tasks.tasks.dev import dev_task
from pyodo_tasks.tasks.guard import guarded
from pyodo_tasks.tasks.params import TARGET_OPTIONS, TARGET_PARAMS, TASK_PARAMS, target_options
from pyodo_tasks.tasks.why import why_task

__all__ = ["TARGET_OPTIONS", "TARGET_PARAMS", "TASK_PARAMS", "ComponentTasks", "target_options"]

Task = dict[str, Any]


def _say(line: str) -> None:
    print(line, flush=True)


class ComponentTasks:
    """The doit tasks of one component directory, bound to a target.

    The cluster is contacted only when a task runs or checks whether it is up to date, never
    when the tasks are listed, so ``doit list`` works offline.
    """

    def __init__(
        self,
        path: Path | str = ".",
        *,
        target: Target | None = None,
        image_overrides: ImageOverrides | None = None,
        labels: Mapping[str, str] | None = None,
        devfile_registry: str | None = None,
        settings: Mapping[str, str | None] | None = None,
    ) -> None:
        self.path = Path(path)
        #: ``PYODO_*`` values from doit's variables (``layout=``, ``init_image=``), over the env's.
        self.settings = {k: v for k, v in (settings or {}).items() if v}
        self._checked: tuple[Any] | None = None
        self._pod: Any = None
        self.target = target
        #: Container name -> image, or a lookup by name (doit's ``image.<container>=``).
        self.image_overrides: ImageOverrides = image_overrides or {}
        self.labels = dict(labels or {})
        #: Registries for ``parent: {id: …}`` (doit ``devfile_registry=``), over the env's.
        self.devfile_registry = devfile_registry

    @cached_property
    def component(self) -> Component:
        environ: Mapping[str, str] = os.environ
        chosen = dict(self.settings)
        if self.devfile_registry:
            chosen[REGISTRY_ENV] = self.devfile_registry
        if chosen:
            environ = {**os.environ, **chosen}
        return Component(
            self.path,
            self.target,
            image_overrides=self.image_overrides,
            labels=self.labels,
            environ=environ,
        )

    def devfile_path(self) -> str:
        from pyodo_tasks.core.devfile import find_devfile

        return str(find_devfile(self.path))

    # -- actions (plain callables; doit's result contract; guarded in tasks()) -------------
    # One doit run makes one cheap check when there is nothing to do: a pod list showing the
    # running pod of the rendered spec (the pod carries the spec hash). Then create_resources is
    # up to date, wait_ready has nothing to wait for, and index/copy/build answer from local
    # state (the index and the state file). Anything else takes the full path.
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
        _say(f"Applied {', '.join(applied)} in namespace {self.component.namespace}")
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
        _say(f"Pod {pod.metadata.name} is running")

    def _index(self) -> str:
        return self.component.sync_digest(self._pod)

    def _copy(self) -> str:
        # Sync, and build-and-restart when anything moved, in one exchange with the agent:
        # the assemble_and_restart task then finds the build done.
        delivery = self.component.deliver(_say, pod=self._pod)
        return delivery.sync.digest

    def _build(self) -> None:
        component = self.component
        digest = component.sync_digest(self._pod)
        if component.build_uptodate(digest):
            return
        component.build(output=_say, pod=self._pod)
        component.mark_built(digest)

    def _report(self) -> None:
        component = self.component
        try:
            url = component.service_url()
        except PyodoError:
            _say(f"Component {component.name} is pushed (no endpoints)")
            return
        cluster_ip = component.state.get("cluster_ip")
        if not cluster_ip:  # read once; a Service keeps its ClusterIP while it exists
            service = component.kube.get("Service", component.name) or {}
            cluster_ip = (service.get("spec") or {}).get("clusterIP")
            component.state.update(cluster_ip=cluster_ip)
        also = f" (ClusterIP {cluster_ip})" if cluster_ip else ""
        _say(f"Component {component.name} is pushed: {url}{also}")
        _say("Reach it from here with: doit forward")

    def _forward(self, seconds: float = 0) -> None:
        component = self.component
        urls = []
        for container in component.devfile.containers:
            for endpoint in container.endpoints:
                forwarder = component.forward(endpoint.name)
                url = f"{shown_scheme(endpoint)}://{forwarder.address}{endpoint.path}"
                urls.append(f"{endpoint.name}: {matching_url(url, endpoint)}")
        for url in urls:
            _say(f"Forwarding {url}")
        _say("Press Ctrl-C to stop" if not seconds else f"Forwarding for {seconds:g}s")
        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            deadline = time.monotonic() + seconds if seconds else None
            while not stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                stop.wait(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            component.stop_forwards()

    def _delete(self) -> None:
        try:
            component = self.component
        except DevfileError as exc:  # a broken devfile must not keep anyone from cleaning up
            gone = self._delete_orphan(exc)
        else:
            gone = component.delete()
        _say(f"Deleted {', '.join(gone) or 'nothing (no labelled objects)'}")

    def _delete_orphan(self, why: DevfileError) -> list[str]:
        """Delete by the component's labels, its name from the state in ``.pyodo`` or the
        directory (see :mod:`pyodo_tasks.core.teardown`); preStop cannot run without commands."""
        from pyodo_tasks.core.kube.client import Kube

        directory = self.path if self.path.is_dir() else self.path.parent
        with Kube(self.target or Target.from_env(os.environ)) as kube:
            orphan = orphan_of(directory, directory / ".pyodo", kube.target.context, kube.namespace)
            first = str(why).splitlines()[0]
            _say(
                f"The devfile does not load ({first}); deleting component {orphan.name} "
                f"(named by {orphan.source}) by its labels, without running preStop"
            )
            gone = delete_labelled_component(kube, orphan.name, timeout=120.0)
        for path in orphan.state_files:
            path.unlink(missing_ok=True)
        return gone

    def _verify(self) -> None:
        from pyodo_tasks.core.verify import check

        _say(check(self.component).summary())

    def _logs(self, lines: int = 100) -> None:
        _say(self.component.logs(tail_lines=lines))

    # -- the task dicts ----------------------------------------------------------------------
    def tasks(self) -> Iterator[Task]:
        """Yield every task of the component (for ``task_*`` generators or a dodo file).

        Touches neither the cluster nor the devfile's content: a broken devfile fails the task
        that reads it, with its one-line error, and ``doit list`` still works.
        """
        builders = {
            "create_resources": self._create_resources_task,
            "wait_ready": self._wait_ready_task,
            "index": self._index_task,
            "copy": self._copy_task,
            "assemble_and_restart": self._build_task,
            "push": self._push_task,
            "forward": self._forward_task,
            "delete": self._delete_task,
            "logs": self._logs_task,
            "verify": self._verify_task,
            "why": lambda: why_task(self),  # doit why PATH…: tasks/why.py
            "dev": lambda: dev_task(self),  # doit dev: the inner loop (pyodo_tasks/dev)
        }
        for name, build in builders.items():
            task = {"basename": name, "params": TASK_PARAMS[name], "verbosity": 2, **build()}
            if not task["params"]:
                del task["params"]
            yield guarded(task)

    def _create_resources_task(self) -> Task:
        try:
            file_dep = [self.devfile_path()]
        except PyodoError:
            file_dep = []  # the action reports the missing devfile
        return {
            "doc": "Apply Deployment, Service, Secrets and PVCs (only when the spec changed)",
            "actions": [self._apply],
            "file_dep": file_dep,
            "uptodate": [self._resources_uptodate],
        }

    def _wait_ready_task(self) -> Task:
        return {
            "doc": "Wait until the component's pod runs (bounded)",
            "actions": [self._wait],
            "task_dep": ["create_resources"],
            "uptodate": [False],
        }

    def _index_task(self) -> Task:
        return {
            "doc": "Index the source tree; its result is the digest of tree and pod",
            "actions": [self._index],
            "task_dep": ["wait_ready"],
            "uptodate": [False],
        }

    def _copy_task(self) -> Task:
        return {
            "doc": "Copy created, modified and renamed files; delete removed ones",
            "actions": [self._copy],
            "uptodate": [result_dep("index")],
        }

    def _build_task(self) -> Task:
        return {
            "doc": "Build in the container and restart the app through the supervisor",
            "actions": [self._build],
            "uptodate": [result_dep("copy")],
        }

    def _push_task(self) -> Task:
        return {
            "doc": "Deploy the component and sync it (runs the whole graph)",
            "actions": [self._report],
            "task_dep": ["assemble_and_restart"],
            "uptodate": [False],
        }

    def _forward_task(self) -> Task:
        return {
            "doc": "Forward each endpoint to a localhost port until Ctrl-C",
            "actions": [(self._forward, [], {})],
            "uptodate": [False],
        }

    def _delete_task(self) -> Task:
        return {
            "doc": "Delete every object the component owns",
            "actions": [self._delete],
            "uptodate": [False],
        }

    def _verify_task(self) -> Task:
        return {
            "doc": "Check the container holds exactly what was synced (one exec, vs the index)",
            "actions": [self._verify],
            "uptodate": [False],
        }

    def _logs_task(self) -> Task:
        return {
            "doc": "Show the app container's log tail",
            "actions": [(self._logs, [], {})],
            "uptodate": [False],
        }
