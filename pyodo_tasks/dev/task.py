"""The ``doit dev`` task dict, kept here so ``tasks.py`` only needs one entry.

The session is imported when the task runs, not when tasks are listed: ``doit list`` stays fast
and needs no cluster. Failures are reported by the guard every pyodo task goes through
(:mod:`pyodo_tasks.tasks.guard`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyodo_tasks.tasks import ComponentTasks

__all__ = ["dev_task"]


def dev_task(tasks: ComponentTasks) -> dict[str, Any]:
    """``doit dev [--seconds S] [--cleanup]`` for the component ``tasks`` is bound to."""
    from pyodo_tasks.tasks.params import TASK_PARAMS  # at call time: tasks imports this module

    def dev(seconds: float, cleanup: bool) -> None:
        from pyodo_tasks.dev.session import run_dev

        run_dev(
            tasks.path,
            seconds=seconds,
            cleanup=cleanup,
            target=tasks.target,
            image_overrides=tasks.image_overrides,
            labels=tasks.labels,
        )

    return {
        "basename": "dev",
        "doc": "Inner loop: sync, build and forward on every save until Ctrl-C",
        "actions": [(dev, [], {})],
        "params": TASK_PARAMS["dev"],
        "uptodate": [False],
        "verbosity": 2,
    }
