"""The push workflow as a doit task graph.

``ComponentTasks(path).tasks()`` yields plain doit task dicts (unit-tested as dicts)::

    create_resources -> wait_ready -> index -> copy -> assemble_and_restart -> push

Each stage re-runs only when its input changed: ``create_resources`` when the rendered spec
differs from the live one (one read), ``copy`` when the index digest (tree + pod) differs from
the one it last copied (``result_dep``), ``assemble_and_restart`` when the copy's result changed
or the last build failed. So ``doit push`` with nothing changed makes no cluster write and runs
no build. ``forward``, ``delete`` and ``logs`` act on the running component.
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

from doit.exceptions import TaskFailed
from doit.task import result_dep

from pyodo_tasks.core.component import Component
from pyodo_tasks.core.devfile.registry import REGISTRY_ENV
from pyodo_tasks.core.endpoints import matching_url
from pyodo_tasks.core.kube import Target
from pyodo_tasks.dev.task import dev_task
from pyodo_tasks.errors import PyodoError

__all__ = ["TARGET_PARAMS", "ComponentTasks", "target_options"]

Task = dict[str, Any]

#: ``--namespace/--context/--kubeconfig`` on every user-facing task. doit hands an option only to
#: the task it was given to, so ``pyodo_tasks.dodo`` also reads them for the whole graph (see
#: :func:`target_options`); declaring them here makes doit accept and document them.
TARGET_PARAMS: list[dict[str, Any]] = [
    {
        "name": name,
        "long": name,
        "type": str,
        "default": "",
        "help": f"the {name} to use (default: kubectl's; env PYODO_{name.upper()})",
    }
    for name in ("namespace", "context", "kubeconfig")
]
TARGET_OPTIONS = tuple(p["name"] for p in TARGET_PARAMS)


def target_options(argv: list[str]) -> dict[str, str]:
    """``--namespace X`` / ``--namespace=X`` (and context, kubeconfig) from a doit command line."""
    found: dict[str, str] = {}
    for i, arg in enumerate(argv):
        for name in TARGET_OPTIONS:
            flag = f"--{name}"
            if arg.startswith(flag + "="):
                found[name] = arg[len(flag) + 1 :]
            elif arg == flag and i + 1 < len(argv):
                found[name] = argv[i + 1]
    return found


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
        image_overrides: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        devfile_registry: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.target = target
        self.image_overrides = dict(image_overrides or {})
        self.labels = dict(labels or {})
        #: Registries for ``parent: {id: …}`` (doit ``devfile_registry=``), over the env's.
        self.devfile_registry = devfile_registry

    @cached_property
    def component(self) -> Component:
        environ: Mapping[str, str] = os.environ
        if self.devfile_registry:
            environ = {**os.environ, REGISTRY_ENV: self.devfile_registry}
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

    # -- actions (plain callables; doit's result contract) ------------------------------------
    def _guard(self, func: Any) -> Any:
        """Run an action, turning a PyodoError into doit's expected-failure result."""

        def action() -> Any:
            try:
                return func()
            except PyodoError as exc:
                return TaskFailed(f"pyodo: {exc}")  # doit prints just this line

        action.__name__ = getattr(func, "__name__", "action")
        action.__doc__ = func.__doc__
        return action

    def _apply(self) -> dict[str, str]:
        applied = self.component.apply(force=True)
        _say(f"Applied {', '.join(applied)} in namespace {self.component.namespace}")
        return {"spec_hash": self.component.spec_hash()}

    def _resources_uptodate(self, task: Any = None, values: Any = None) -> bool:
        try:
            return self.component.resources_uptodate()
        except PyodoError:
            return False  # let the action run and report the error properly

    def _wait(self) -> None:
        pod = self.component.wait_ready()
        _say(f"Pod {pod.metadata.name} is running")

    def _index(self) -> str:
        return self.component.sync_digest()

    def _copy(self) -> str:
        return self.component.sync(output=_say).digest

    def _build(self) -> None:
        component = self.component
        component.build(output=_say)
        component.mark_built(component.sync_digest())

    def _report(self) -> None:
        component = self.component
        try:
            url = component.service_url()
        except PyodoError:
            _say(f"Component {component.name} is pushed (no endpoints)")
            return
        service = component.kube.get("Service", component.name) or {}
        cluster_ip = (service.get("spec") or {}).get("clusterIP")
        also = f" (ClusterIP {cluster_ip})" if cluster_ip else ""
        _say(f"Component {component.name} is pushed: {url}{also}")
        _say("Reach it from here with: doit forward")

    def _forward(self, seconds: float = 0) -> None:
        component = self.component
        urls = []
        for container in component.devfile.containers:
            for endpoint in container.endpoints:
                forwarder = component.forward(endpoint.name)
                scheme = "http" if endpoint.protocol in ("http", "ws") else endpoint.protocol
                url = f"{scheme}://{forwarder.address}{endpoint.path}"
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
        gone = self.component.delete()
        _say(f"Deleted {', '.join(gone) or 'nothing (no labelled objects)'}")

    def _logs(self, lines: int = 100) -> None:
        _say(self.component.logs(tail_lines=lines))

    # -- the task dicts ----------------------------------------------------------------------
    def tasks(self) -> Iterator[Task]:
        """Yield every task of the component (for ``task_*`` generators or a dodo file)."""
        devfile = self.devfile_path()
        yield {
            "basename": "create_resources",
            "doc": "Apply Deployment, Service, Secrets and PVCs (only when the spec changed)",
            "actions": [self._guard(self._apply)],
            "file_dep": [devfile],
            "uptodate": [self._resources_uptodate],
            "verbosity": 2,
        }
        yield {
            "basename": "wait_ready",
            "doc": "Wait until the component's pod runs (bounded)",
            "actions": [self._guard(self._wait)],
            "task_dep": ["create_resources"],
            "uptodate": [False],
            "verbosity": 2,
        }
        yield {
            "basename": "index",
            "doc": "Index the source tree; its result is the digest of tree and pod",
            "actions": [self._guard(self._index)],
            "task_dep": ["wait_ready"],
            "uptodate": [False],
        }
        yield {
            "basename": "copy",
            "doc": "Copy created, modified and renamed files; delete removed ones",
            "actions": [self._guard(self._copy)],
            "uptodate": [result_dep("index")],
            "verbosity": 2,
        }
        yield {
            "basename": "assemble_and_restart",
            "doc": "Build in the container and restart the app through the supervisor",
            "actions": [self._guard(self._build)],
            "uptodate": [result_dep("copy")],
            "verbosity": 2,
        }
        yield {
            "basename": "push",
            "doc": "Deploy the component and sync it (runs the whole graph)",
            "actions": [self._guard(self._report)],
            "params": TARGET_PARAMS,
            "task_dep": ["assemble_and_restart"],
            "uptodate": [False],
            "verbosity": 2,
        }
        yield {
            "basename": "forward",
            "doc": "Forward each endpoint to a localhost port until Ctrl-C",
            "actions": [(self._guard_params(self._forward), [], {})],
            "params": [
                *TARGET_PARAMS,
                {
                    "name": "seconds",
                    "long": "seconds",
                    "type": float,
                    "default": 0,
                    "help": "stop after this many seconds (0: until Ctrl-C)",
                },
            ],
            "uptodate": [False],
            "verbosity": 2,
        }
        yield {
            "basename": "delete",
            "doc": "Delete every object the component owns",
            "actions": [self._guard(self._delete)],
            "params": TARGET_PARAMS,
            "uptodate": [False],
            "verbosity": 2,
        }
        yield {
            "basename": "logs",
            "doc": "Show the app container's log tail",
            "actions": [(self._guard_params(self._logs), [], {})],
            "params": [
                *TARGET_PARAMS,
                {
                    "name": "lines",
                    "long": "lines",
                    "type": int,
                    "default": 100,
                    "help": "how many lines",
                },
            ],
            "uptodate": [False],
            "verbosity": 2,
        }
        yield dev_task(self)  # doit dev: the inner loop (pyodo_tasks/dev)

    def _guard_params(self, func: Any) -> Any:
        def action(**params: Any) -> Any:
            own = {k: v for k, v in params.items() if k not in TARGET_OPTIONS}
            try:
                return func(**own)
            except PyodoError as exc:
                return TaskFailed(f"pyodo: {exc}")

        return action
