"""Where the cluster keeps its cache (survives ``down``) and its state (removed by ``down``).

Cache under ``~/.cache/pyodo`` so a second boot does not rebuild; state under
``/var/lib/pyodo/cluster`` and sockets under ``/run/pyodo`` so nothing clashes with a
containerd or kubelet the machine already runs at the default paths.
"""

from __future__ import annotations

from pathlib import Path

from pyodo_tasks.paths import cache_root
from pyodo_tasks.testbed import settings

__all__ = ["cache_root", "kube_bin_dir", "run_root", "state_root", "tool_bin_dir"]


def kube_bin_dir(version: str) -> Path:
    """Directory holding the built Kubernetes binaries for ``version``."""
    return cache_root() / "kubernetes" / version / "bin"


def tool_bin_dir() -> Path:
    """Directory for ``go install``-ed helper CLIs such as kind."""
    return cache_root() / "bin"


def state_root() -> Path:
    """Cluster state: certs, etcd data, kubelet root, logs, pid files (``PYODO_CLUSTER_STATE``)."""
    return settings.cluster_state() or Path("/var/lib/pyodo/cluster")


def run_root() -> Path:
    """Sockets (containerd) live here, away from ``/run/containerd`` (``PYODO_CLUSTER_RUN``)."""
    return settings.cluster_run() or Path("/run/pyodo")
