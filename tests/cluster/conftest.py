"""Boot the test cluster once per session.

``PYODO_CLUSTER_PROVIDER`` picks the provider (default ``local``, whose ``up`` holds a
cross-process lock, so xdist workers and a concurrent CLI share one boot). The cluster is left
running for the next session unless ``PYODO_CLUSTER_TEARDOWN=1``, in which case the session
tears it down at the end, pass or fail (what CI wants); ``python -m pyodo_tasks.cluster down``
does the same by hand. With xdist, only the controller process may tear down, so CI should
run ``down`` after pytest instead of setting the variable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pyodo_tasks.cluster import ClusterInfo, get_provider


@pytest.fixture(scope="session")
def cluster_info() -> Iterator[ClusterInfo]:
    """The booted cluster's :class:`ClusterInfo` (admin and restricted kubeconfigs)."""
    provider = get_provider(os.environ.get("PYODO_CLUSTER_PROVIDER", "local"))
    try:
        yield provider.up()
    finally:
        if os.environ.get("PYODO_CLUSTER_TEARDOWN") == "1":
            provider.down()
