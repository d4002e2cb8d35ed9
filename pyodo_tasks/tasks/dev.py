"""The ``doit dev`` task dict: the doit layer's door to the inner loop (:mod:`pyodo_tasks.dev`).

The session (watchfiles, rich) is imported when the task runs, not when tasks are listed
(``pyodo_tasks.dev`` exports ``run_dev`` lazily): ``doit list`` stays fast and needs no cluster.
Failures are reported by the guard every pyodo task goes through
(:mod:`pyodo_tasks.tasks.guard`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from pyodo_tasks import dev
from pyodo_tasks.tasks.params import TASK_PARAMS

if TYPE_CHECKING:
    from pyodo_tasks.tasks import ComponentTasks

__all__ = ["dev_task"]


def dev_task(tasks: ComponentTasks) -> dict[str, Any]:
    """``doit dev [--seconds S] [--cleanup] [--debug]`` for the component ``tasks`` is bound to
    (``--debug``, or ``doit dev debug=true`` like ``doit push``'s)."""

    def run(seconds: float, cleanup: bool, debug: bool) -> None:
        options = dataclasses.replace(tasks.options, debug=debug or tasks.debug)
        dev.run_dev(tasks.path, options, seconds=seconds, cleanup=cleanup)

    return {
        "basename": "dev",
        "doc": "Inner loop: sync, build and forward on every save until Ctrl-C",
        "actions": [(run, [], {})],
        "params": TASK_PARAMS["dev"],
        "uptodate": [False],
        "verbosity": 2,
    }
