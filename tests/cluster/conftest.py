"""Boot the test cluster once per session (cached; xdist workers share it through a file lock).

``PYODO_CLUSTER_PROVIDER`` picks the provider (default ``local``, whose ``up`` holds a
cross-process lock, so xdist workers and a concurrent CLI share one boot). The cluster is left
running for the next session; ``python -m pyodo_tasks.cluster down`` tears it down.
"""

from __future__ import annotations

import os

import pytest

from pyodo_tasks.cluster import ClusterInfo, get_provider


@pytest.fixture(scope="session")
def cluster_info() -> ClusterInfo:
    """The booted cluster's :class:`ClusterInfo` (admin and restricted kubeconfigs)."""
    return get_provider(os.environ.get("PYODO_CLUSTER_PROVIDER", "local")).up()
