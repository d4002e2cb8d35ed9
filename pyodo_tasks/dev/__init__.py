"""``doit dev``: odo's inner loop as ONE reconcile loop (seed 004), spec and status in ConfigMaps.

Save a file and, a moment later, the running app serves it: the client half
(:mod:`.client`) watches the component directory and writes the spec ConfigMap; the controller
half (:mod:`.controller`) reconciles the cluster towards that spec on every event — spec
changed, pod changed or deleted, retry due — through one function, and records each step in the
status ConfigMap, which the client shows. Run it as ``doit dev`` in a component directory or
``python -m pyodo_tasks.dev [DIR]``; ``docs/dev.md`` describes the behaviour.

The session (watchfiles, rich) is imported on first use, so listing doit tasks stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyodo_tasks._lazy import lazy_exports
from pyodo_tasks.dev.events import Event, EventQueue
from pyodo_tasks.dev.state import ForwardedPort, Spec, State, Status, spec_name, status_name

if TYPE_CHECKING:
    from pyodo_tasks.dev.session import DevSession, run_dev

__all__ = [
    "DevSession",
    "Event",
    "EventQueue",
    "ForwardedPort",
    "Spec",
    "State",
    "Status",
    "run_dev",
    "spec_name",
    "status_name",
]


__getattr__ = lazy_exports(globals(), {"session": ("DevSession", "run_dev")})
