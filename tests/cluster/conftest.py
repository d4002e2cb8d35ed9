"""Boot the test cluster once per session (cached; xdist workers share it through a file lock).

``PYODO_CLUSTER_PROVIDER`` picks the provider (default ``local``). The cluster is left running
for the next session; ``python -m pyodo_tasks.cluster down`` (or the CI script) tears it down.
"""

from __future__ import annotations

import os

import pytest
from filelock import FileLock

from pyodo_tasks.cluster import ClusterInfo, get_provider
from pyodo_tasks.cluster.paths import cache_root


@pytest.fixture(scope="session")
def cluster_info() -> ClusterInfo:
    """The booted cluster's :class:`ClusterInfo` (admin and restricted kubeconfigs)."""
    cache_root().mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_root() / "cluster-up.lock"), timeout=1800):
        return get_provider(os.environ.get("PYODO_CLUSTER_PROVIDER", "local")).up()
