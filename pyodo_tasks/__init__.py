"""pyodo's engine: devfile model, rendering, file index, sync and the doit tasks.

The engine never imports pytest; the plugin in ``pytest_pyodo`` is a thin layer over it.
The names below are the public API; everything else is an implementation module. They are
imported on first use (PEP 562), so loading the pytest plugin or the cluster CLI does not pay
for the Kubernetes client until it is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyodo_tasks._lazy import lazy_exports

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
    "forward_debugger",
    "load_devfile",
    "run_labels",
    "verify_sync",
]

if TYPE_CHECKING:
    from pyodo_tasks.core.component import Component, PushResult, SyncResult
    from pyodo_tasks.core.debugging import forward_debugger
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


__getattr__ = lazy_exports(
    globals(),
    {
        "core.component": ("Component", "PushResult", "SyncResult"),
        "core.debugging": ("forward_debugger",),
        "core.devfile": ("Devfile", "load_devfile"),
        "core.gc": ("RUN_ID_LABEL", "collect_expired", "run_labels"),
        "core.index": ("Changes", "FileIndex"),
        "core.kube": ("ExecResult", "Target"),
        "core.verify": ("SyncMismatch", "VerifyResult", "verify_sync"),
        "errors": (
            "ClusterError",
            "ClusterSetupError",
            "CommandError",
            "ConfigError",
            "DevfileError",
            "PyodoError",
            "RuntimeDeliveryError",
            "SyncError",
            "WaitTimeout",
        ),
        "tasks": ("ComponentTasks",),
    },
)
