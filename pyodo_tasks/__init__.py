"""pyodo's engine: devfile model, rendering, file index, sync and the doit tasks.

The engine never imports pytest; the plugin in ``pytest_pyodo`` is a thin layer over it.
The names below are the public API; everything else is an implementation module.
"""

from .component import Component, PushResult, SyncResult
from .devfile import Devfile, load_devfile
from .errors import (
    ClusterError,
    ClusterSetupError,
    CommandError,
    ConfigError,
    DevfileError,
    PyodoError,
    SyncError,
    WaitTimeout,
)
from .index import Changes, FileIndex
from .kube import ExecResult, Target
from .tasks import ComponentTasks

__all__ = [
    "Changes",
    "ClusterError",
    "ClusterSetupError",
    "CommandError",
    "Component",
    "ComponentTasks",
    "ConfigError",
    "Devfile",
    "DevfileError",
    "ExecResult",
    "FileIndex",
    "PushResult",
    "PyodoError",
    "SyncError",
    "SyncResult",
    "Target",
    "WaitTimeout",
    "load_devfile",
]
