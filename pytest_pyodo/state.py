"""The plugin's per-session state, kept in ``config.stash`` (no module globals)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .settings import Settings

if TYPE_CHECKING:  # the session module imports the Kubernetes client: only when used
    from .session import DeployedComponent, Engine, PyodoRun

__all__ = ["STATE_KEY", "USED_KEY", "PluginState"]


@dataclass
class PluginState:
    """What the hooks share: the settings, the run's identity, and the run once it started.

    ``worker`` is ``main`` in a plain session and the xdist worker id (``gw0``…) in a worker;
    ``worker_reports`` are the workers' :meth:`PyodoRun.summary` dicts, on the controller.
    """

    settings: Settings
    run_id: str
    worker: str = "main"
    distributed: bool = False
    run: PyodoRun | None = None
    #: The engine the run uses (None: the real one); the plugin's own tests set fakes here.
    engine: Engine | None = None
    worker_reports: list[dict[str, Any]] = field(default_factory=list)
    #: The run's directory, the same for the controller and every worker (xdist only).
    run_dir: Path | None = None
    #: The identity of the process that cleans up at the end (see ``liveness``).
    holder: str | None = None
    #: ``(path, image_overrides, shared)`` of every component the collected tests need.
    plan: list[tuple[Path, dict[str, str], bool]] = field(default_factory=list)
    planned: bool = False
    sweep_log: list[str] = field(default_factory=list)
    #: The xdist controller's early deploy (``.handoff``), joined before its cleanup.
    early: threading.Thread | None = None
    early_decided: bool = False


STATE_KEY: pytest.StashKey[PluginState] = pytest.StashKey()
#: On each test item: the components it asked for, for the failure report section.
USED_KEY: pytest.StashKey[list[DeployedComponent]] = pytest.StashKey()
