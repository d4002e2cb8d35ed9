"""pytest plugin for pyodo: fixtures that deploy a component and yield its endpoint.

The plugin itself is :mod:`pytest_pyodo.plugin` (entry point ``pyodo``); the names below are the
types its fixtures return, for annotations::

    from pytest_pyodo import DeployedComponent

    def test_api(pyodo_component: DeployedComponent) -> None: ...

They are imported on first access: the session module loads the Kubernetes client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .session import DeployedComponent, PyodoCluster, PyodoRun
    from .settings import Settings

__all__ = ["DeployedComponent", "PyodoCluster", "PyodoRun", "Settings"]

_HOMES = {
    "DeployedComponent": "session",
    "PyodoCluster": "session",
    "PyodoRun": "session",
    "Settings": "settings",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
