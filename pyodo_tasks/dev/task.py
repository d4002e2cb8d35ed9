"""The ``doit dev`` task dict, kept here so ``tasks.py`` only needs one ``yield``.

The session is imported when the task runs, not when tasks are listed: ``doit list`` stays fast
and needs no cluster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from doit.exceptions import TaskFailed

from pyodo_tasks.errors import PyodoError

if TYPE_CHECKING:
    from pyodo_tasks.tasks import ComponentTasks

__all__ = ["dev_task"]


def dev_task(tasks: ComponentTasks) -> dict[str, Any]:
    """``doit dev [--seconds S] [--cleanup]`` for the component ``tasks`` is bound to."""
    from pyodo_tasks.tasks import (
        TARGET_PARAMS,  # at call time: pyodo_tasks.tasks imports this module,
    )

    def dev(seconds: float, cleanup: bool) -> TaskFailed | None:
        from pyodo_tasks.dev.session import run_dev

        try:
            run_dev(
                tasks.path,
                seconds=seconds,
                cleanup=cleanup,
                target=tasks.target,
                image_overrides=tasks.image_overrides,
                labels=tasks.labels,
            )
        except PyodoError as exc:
            return TaskFailed(f"pyodo: {exc}")  # doit prints just this line, like the others
        return None

    return {
        "basename": "dev",
        "doc": "Inner loop: sync, build and forward on every save until Ctrl-C",
        "actions": [(dev, [], {})],
        "params": [
            *TARGET_PARAMS,
            {
                "name": "seconds",
                "long": "seconds",
                "type": float,
                "default": 0,
                "help": "stop after this many seconds (0: until Ctrl-C)",
            },
            {
                "name": "cleanup",
                "long": "cleanup",
                "type": bool,
                "default": False,
                "help": "delete the component on exit (default: keep it running)",
            },
        ],
        "uptodate": [False],
        "verbosity": 2,
    }
