"""The chaos cases' cluster and scratch components.

Chaos cases run on the local cluster the test bed boots (``PYODO_CLUSTER_PROVIDER``, default
``local``: the cases that stop its daemons need it) and run after every other test
(``tests/conftest.py`` moves them last), since some of them stop the API server or containerd
for a few seconds.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyodo_tasks.cluster import ClusterInfo, get_provider
from pyodo_tasks.core.gc import run_labels
from pyodo_tasks.core.kube import Kube, Target
from tests.chaos.workbench import Workbench, scratch_copy


@pytest.fixture(scope="session")
def chaos_cluster() -> ClusterInfo:
    """The booted cluster (``up`` is idempotent and returns at once when it runs)."""
    return get_provider(os.environ.get("PYODO_CLUSTER_PROVIDER", "local")).up()


@pytest.fixture
def bench(chaos_cluster: ClusterInfo, tmp_path: Path) -> Iterator[Workbench]:
    """A scratch copy of examples/nodejs in a namespace of its own, deleted at the end (with
    every process the case started, if the case itself failed before stopping them)."""
    namespace = f"pyodo-chaos-{uuid.uuid4().hex[:6]}"
    kube = Kube(Target(kubeconfig=str(chaos_cluster.kubeconfig), namespace=namespace))
    kube.ensure_namespace(namespace, run_labels(f"chaos-{namespace}", 3600))
    bench = Workbench(scratch_copy(tmp_path), namespace, chaos_cluster.kubeconfig, kube)
    try:
        yield bench
    finally:
        bench.stop_all()
        kube.delete_namespace(namespace)
        kube.close()
