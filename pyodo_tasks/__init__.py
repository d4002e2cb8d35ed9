"""pyodo's engine: devfile model, rendering, file index, sync and the doit tasks.

The engine never imports pytest; the plugin in ``pytest_pyodo`` is a thin layer over it.
The names below are the public API; everything else is an implementation module. They are
imported on first use (PEP 562), so loading the pytest plugin or the cluster CLI does not pay
for the Kubernetes client until it is needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [  # noqa: RUF022 (plain sorted(), which tests/unit/test_public_api.py checks)
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
    "RUN_ID_LABEL",
    "RuntimeDeliveryError",
    "SyncError",
    "SyncMismatch",
    "SyncResult",
    "Target",
    "VerifyResult",
    "WaitTimeout",
    "collect_expired",
    "load_devfile",
    "run_labels",
    "verify_sync",
]

_HOMES = {
    "SyncMismatch": "core.verify",
    "VerifyResult": "core.verify",
    "verify_sync": "core.verify",
    "RUN_ID_LABEL": "core.gc",
    "collect_expired": "core.gc",
    "run_labels": "core.gc",
    "Changes": "core.index",
    "FileIndex": "core.index",
    "Component": "core.component",
    "PushResult": "core.component",
    "SyncResult": "core.component",
    "ComponentTasks": "tasks",
    "Devfile": "core.devfile",
    "load_devfile": "core.devfile",
    "ExecResult": "core.kube",
    "Target": "core.kube",
}

if TYPE_CHECKING:
    from pyodo_tasks.core.component import Component, PushResult, SyncResult
    from pyodo_tasks.core.devfile import Devfile, load_devfile
    from pyodo_tasks.core.gc import RUN_ID_LABEL, collect_expired, run_labels
    from pyodo_tasks.core.index import Changes, FileIndex
    from pyodo_tasks.core.kube import ExecResult, Target
    from pyodo_tasks.core.verify import SyncMismatch, VerifyResult, verify_sync
    from pyodo_tasks.errors import (
        ClusterError,
        ClusterSetupError,
        CommandError,
        ConfigError,
        DevfileError,
        PyodoError,
        RuntimeDeliveryError,
        SyncError,
        WaitTimeout,
    )
    from pyodo_tasks.tasks import ComponentTasks


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f".{_HOMES.get(name, 'errors')}", __name__)
    value = getattr(module, name)
    globals()[name] = value
    return value
