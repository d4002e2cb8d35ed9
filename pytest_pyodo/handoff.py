"""The xdist controller's early deploy, and its handoff to the workers.

Under xdist the workers start, import pytest and the plugins, and collect, before the first
test is scheduled: seconds on a loaded machine. The controller knows the default component
(``--pyodo-component``) from the start, so it deploys it then, in a thread
(:func:`start_early_deploy`), while the workers start: the deploy overlaps their start-up
instead of following it. The controller connects once (cluster check, garbage of killed runs,
the run's shared namespace, liveness record) and writes what it found to the run's directory
(:class:`Handoff`); a worker waits for the early deploy to end, reads it, and then only attaches
(:mod:`.deployed`): no Kubernetes client, one pod list and one exec without it.

What the handoff does not cover falls back to the ordinary path: a worker whose settings differ
from the controller's (a ``pyodo_config`` override in a ``conftest.py``) connects itself, and a
component no test uses is deleted at the end with the run's namespace like any other.
A plain library (no pytest).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock

from .settings import Settings

if TYPE_CHECKING:
    from .session import PyodoRun

__all__ = ["Handoff", "start_early_deploy"]

log = logging.getLogger("pytest_pyodo")

#: Bound on the controller's thread taking its lock (it does so before anything else).
START_BOUND = 30.0


def fingerprint(settings: Settings) -> str:
    """Settings equal in the controller and a worker give the same fingerprint."""
    return hashlib.sha256(repr(settings).encode()).hexdigest()[:16]


class Handoff:
    """The early deploy's files in the run's directory: a marker saying one is under way, the
    lock its thread holds until it ended, and the connection it made (``connection.json``)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.marker = run_dir / "early-deploy"
        self.lock_path = run_dir / "early-deploy.lock"
        self.connection = run_dir / "connection.json"

    def announce(self) -> None:
        """Before the workers start: they will wait for the early deploy."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.marker.touch()

    def lock(self, timeout: float) -> FileLock:
        return FileLock(str(self.lock_path), timeout=timeout)

    def wait(self, timeout: float) -> None:
        """Return once no early deploy is under way (bounded: ``timeout``)."""
        if self.marker.exists():
            with self.lock(timeout):
                pass

    def write(self, settings: Settings, data: dict[str, Any]) -> None:
        """Leave the controller's connection for the workers (atomically)."""
        partial = self.connection.with_suffix(".partial")
        partial.write_text(json.dumps({"settings": fingerprint(settings), **data}))
        os.replace(partial, self.connection)

    def read(self, settings: Settings) -> dict[str, Any] | None:
        """The controller's connection, if it was made with the same settings."""
        try:
            data = json.loads(self.connection.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("settings") != fingerprint(settings):
            return None
        return data


def start_early_deploy(
    run_dir: Path, run: Callable[[], PyodoRun], path: Path, timeout: float
) -> threading.Thread:
    """Deploy ``path`` with the run ``run()`` makes, in a thread holding the handoff's lock.

    Returns as soon as the thread holds the lock (before it imports anything), so a worker
    started afterwards waits for it and xdist's scheduling is not held up. The deploy's failure
    is left for the workers in the run's directory (:mod:`.deployed`) and logged here; it is
    never raised.
    """
    taken = threading.Event()

    def deploy() -> None:
        try:
            with Handoff(run_dir).lock(timeout):
                taken.set()
                run().deploy(path)
        except Exception as exc:  # the workers report it: the same error, at their test
            log.info("[early deploy] %s: %s", path, exc)
        finally:
            taken.set()

    thread = threading.Thread(target=deploy, name="pyodo-early-deploy", daemon=True)
    thread.start()
    taken.wait(START_BOUND)
    return thread
