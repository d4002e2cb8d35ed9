"""The ``doit gc`` task dict; the collection is :func:`pyodo_tasks.core.gc.collect_expired`."""

from __future__ import annotations

from typing import Any

from pyodo_tasks.core.gc import collect_expired
from pyodo_tasks.core.kube.target import Target

__all__ = ["gc_task"]


def _gc_action(target: Target) -> None:
    from pyodo_tasks.core.kube.client import Kube  # the client's import only when gc runs

    with Kube(target) as kube:
        gone = collect_expired(kube)
    print(f"gc: deleted {', '.join(gone)}" if gone else "gc: nothing expired")


def gc_task(target: Target | None = None) -> dict[str, Any]:
    """The ``doit gc`` task dict, for the repo's and every component's dodo file."""
    return {
        "doc": "Delete what killed test runs left behind once its expiry label has passed",
        "actions": [(_gc_action, [target or Target.from_env()])],
        "uptodate": [False],
        "verbosity": 2,
    }
