"""The engine's one wait: bounded on ``time.monotonic()``, naming what it waited for.

Every wait in pyodo goes through :func:`wait_for`. A probe returns ``(value, state)``: a
non-None value ends the wait, ``state`` is the one-line description of what it saw, kept for the
:class:`~pyodo_tasks.errors.WaitTimeout` message. A probe may raise to end the wait early on a
condition that will not fix itself (lightkube's ``raise_for_conditions``). Between rounds the
wait sleeps, or, when the caller has a watch, blocks on it (``pause``) so a change ends the pause
at once instead of at the next poll.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from pyodo_tasks.errors import WaitTimeout

__all__ = ["Probe", "wait_for"]

T = TypeVar("T")
Probe = Callable[[], "tuple[T | None, str]"]


def wait_for(
    probe: Callable[[], tuple[T | None, str]],
    what: str,
    timeout: float,
    interval: float = 0.5,
    *,
    check: Callable[[], None] | None = None,
    pause: Callable[[float], object] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call ``probe`` until it returns a value; raise :class:`WaitTimeout` after ``timeout``.

    ``check`` runs each round and may raise (e.g. the process being waited on has died).
    ``pause(seconds)`` replaces the sleep between rounds: it may return early (a watch event).
    """
    deadline = clock() + timeout
    sleep = pause or time.sleep
    while True:
        value, last = probe()
        if value is not None:
            return value
        if check is not None:
            check()
        left = deadline - clock()
        if left <= 0:
            raise WaitTimeout(what, timeout, last)
        sleep(min(interval, left))
