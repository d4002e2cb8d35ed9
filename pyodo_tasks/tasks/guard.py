"""doit's side of :mod:`pyodo_tasks.failures`: no pyodo task ends in a traceback.

doit's result contract: an action returns ``TaskFailed`` for an expected failure (doit prints
the message, exit status 1) and raises only for a real error (doit prints the traceback, exit
status 2 or 3). Every pyodo task goes through :func:`guarded`, which wraps each action so that a
:class:`~pyodo_tasks.errors.PyodoError` becomes ``TaskFailed("pyodo: ...")`` and anything else
``TaskFailed("pyodo bug: ...")`` — with the traceback attached only under ``PYODO_DEBUG=1`` —
and each ``uptodate`` callable so that a failing check means "run it" (the action then reports
the error properly). :class:`Reporter` prints such a failure as its one line on stderr.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from doit.dependency import UptodateCalculator
from doit.exceptions import BaseFail, TaskFailed
from doit.reporter import ConsoleReporter

from pyodo_tasks.errors import PyodoError
from pyodo_tasks.failures import debug_requested, summary
from pyodo_tasks.tasks.params import TASK_POS_ARGS

__all__ = ["Reporter", "failing_tasks", "guard_action", "guard_uptodate", "guarded"]

Task = dict[str, Any]


def _failure(exc: Exception) -> TaskFailed:
    message = summary(exc)
    if not isinstance(exc, PyodoError) and debug_requested():
        return TaskFailed(message, exception=exc)  # doit prints the traceback with it
    return TaskFailed(message)


def guard_action(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` as a doit action that fails with one line instead of raising.

    ``functools.wraps`` keeps the signature visible to doit, which passes task parameters by
    the names the function declares.
    """

    @functools.wraps(func)
    def action(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            return _failure(exc)

    return action


def guard_uptodate(check: Any) -> Any:
    """A failing ``uptodate`` callable counts as "not up to date", so the action runs and
    reports the error; doit would otherwise abort the whole run with a traceback."""
    if not callable(check) or isinstance(check, UptodateCalculator):
        return check  # booleans, shell strings and doit's own calculators (result_dep)

    @functools.wraps(check)
    def uptodate(*args: Any, **kwargs: Any) -> Any:
        try:
            return check(*args, **kwargs)
        except Exception:
            return False

    return uptodate


def _guard_entry(action: Any) -> Any:
    if isinstance(action, tuple) and action and callable(action[0]):
        return (guard_action(action[0]), *action[1:])
    if callable(action):
        return guard_action(action)
    return action  # a shell command string: doit reports its exit status itself


def guarded(task: Task) -> Task:
    """A copy of the task dict with every action and ``uptodate`` callable guarded."""
    task = dict(task)
    task["actions"] = [_guard_entry(action) for action in task.get("actions") or []]
    if "uptodate" in task:
        task["uptodate"] = [guard_uptodate(check) for check in task["uptodate"]]
    return task


def failing_tasks(
    specs: Iterable[tuple[str, list[dict[str, Any]]]], exc: Exception
) -> Iterator[Task]:
    """Stand-ins for tasks whose definitions could not be made (the task loader failed).

    Each keeps its name, options and positional arguments (``doit why PATH``), so the command
    line still parses, and fails with the error's one line when run: ``doit list`` keeps
    working and ``doit push`` exits 1, where an exception escaping the loader would be a doit
    traceback with exit status 3.
    """
    failure = _failure(exc)
    for name, params in specs:
        yield {
            "basename": name,
            "doc": f"(unavailable: {failure.message})",
            "actions": [lambda: failure],
            "params": params,
            "uptodate": [False],
            "verbosity": 2,
            **({"pos_arg": TASK_POS_ARGS[name]} if name in TASK_POS_ARGS else {}),
        }


class Reporter(ConsoleReporter):
    """doit's console reporter, but a pyodo failure is its one line on stderr.

    doit's default prints ``TaskFailed - taskid:NAME`` and the message to stdout; pyodo's
    messages already name what failed. Other failures (a user's own tasks) are reported as
    doit always does, and ``PYODO_DEBUG=1`` keeps doit's full report.
    """

    desc = "console output; pyodo failures as one line on stderr"

    def execute_task(self, task: Any) -> None:
        """doit's title line, except before a document for a program to read (``--json``):
        ``doit why --json server.js | jq`` reads all of stdout."""
        if (getattr(task, "options", None) or {}).get("as_json"):
            return
        super().execute_task(task)

    def add_failure(self, task: Any, fail: BaseFail) -> None:
        message = str(getattr(fail, "message", ""))
        if fail.report and message.startswith("pyodo") and not fail.traceback:
            sys.stdout.flush()  # keep the line after the task titles printed so far
            sys.stderr.write(f"{message}\n")
            sys.stderr.flush()
            return
        super().add_failure(task, fail)
