"""The push workflow as a doit task graph.

``ComponentTasks(path).tasks()`` yields plain doit task dicts (unit-tested as dicts)::

    create_resources -> wait_ready -> index -> copy -> assemble_and_restart -> push

Each stage re-runs only when its input changed: ``create_resources`` when the rendered spec
differs from the live one (one read), ``copy`` when the index digest (tree + pod) differs from
the one it last copied (``result_dep``), ``assemble_and_restart`` when the copy's result changed
or the last build failed. So ``doit push`` with nothing changed makes no cluster write and runs
no build. ``forward``, ``delete``, ``logs``, ``verify`` and ``why`` act on the running component.

The tasks live in :mod:`.push` (the graph) and :mod:`.running` (the others), on the component
bound in :mod:`.bound`; ``why`` and ``dev`` in :mod:`.why` and :mod:`.dev`.

Every action and ``uptodate`` check goes through :func:`~pyodo_tasks.tasks.guard.guarded`: a
failure is one line and exit status 1, never a traceback (see :mod:`pyodo_tasks.failures`).
"""

from __future__ import annotations

from collections.abc import Iterator

from pyodo_tasks.tasks.bound import Task
from pyodo_tasks.tasks.dev import dev_task
from pyodo_tasks.tasks.guard import guarded
from pyodo_tasks.tasks.params import TARGET_OPTIONS, TARGET_PARAMS, TASK_PARAMS, target_options
from pyodo_tasks.tasks.push import PushTasks
from pyodo_tasks.tasks.running import RunningTasks
from pyodo_tasks.tasks.why import why_task

__all__ = ["TARGET_OPTIONS", "TARGET_PARAMS", "TASK_PARAMS", "ComponentTasks", "target_options"]


class ComponentTasks(PushTasks, RunningTasks):
    """The doit tasks of one component directory, bound to a target.

    The cluster is contacted only when a task runs or checks whether it is up to date, never
    when the tasks are listed, so ``doit list`` works offline.
    """

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
