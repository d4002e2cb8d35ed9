"""Boot the test cluster once per session; run the tests marked ``kind`` on a kind cluster too.

``PYODO_CLUSTER_PROVIDER`` picks the provider (default ``local``, whose ``up`` holds a
cross-process lock, so xdist workers and a concurrent CLI share one boot). The cluster is left
running for the next session unless ``PYODO_CLUSTER_TEARDOWN=1``, in which case the session
tears it down at the end, pass or fail (what CI wants); ``python -m pyodo_tasks.cluster down``
does the same by hand. With xdist, only the controller process may tear down, so CI should
run ``down`` after pytest instead of setting the variable.

When ``PYODO_KIND_IMAGE`` is set (``./run test`` sets ``pyodo``: the node image built on this
machine), every test marked ``@pytest.mark.kind`` runs twice, on the default provider and on a
kind cluster. ``@pytest.mark.kind(only={"fixture": "param"})`` limits the kind run to one
parameter of another fixture (one example app instead of all of them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pyodo_tasks.cluster import ClusterInfo, get_provider
from pyodo_tasks.core.kube import Kube, ResolvedTarget
from pyodo_tasks.testbed.kind import IMAGE_ENV

KIND = "kind"


def default_provider() -> str:
    return os.environ.get("PYODO_CLUSTER_PROVIDER", "local")


def kind_enabled() -> bool:
    return bool(os.environ.get(IMAGE_ENV)) and default_provider() != KIND


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cluster_info" not in metafunc.fixturenames:
        return
    if kind_enabled() and metafunc.definition.get_closest_marker(KIND) is not None:
        metafunc.parametrize("cluster_info", [default_provider(), KIND], indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop kind runs outside a marker's ``only=`` (kept to what CI's time budget allows)."""
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        marker = item.get_closest_marker(KIND)
        only = marker.kwargs.get("only", {}) if marker is not None else {}
        on_kind = callspec is not None and callspec.params.get("cluster_info") == KIND
        if on_kind and any(callspec.params.get(k, v) != v for k, v in only.items()):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def cluster_info(request: pytest.FixtureRequest) -> Iterator[ClusterInfo]:
    """The booted cluster's :class:`ClusterInfo` (admin and, for local, restricted kubeconfigs).

    The default provider unless the test is parametrised over ``kind``: then a kind cluster from
    ``$PYODO_KIND_IMAGE``, left running for reuse (``./run test`` deletes it at the end).
    """
    name = getattr(request, "param", None) or default_provider()
    provider = get_provider(name)
    try:
        yield provider.up()
    finally:
        if os.environ.get("PYODO_CLUSTER_TEARDOWN") == "1":
            provider.down()


@pytest.fixture(scope="module")
def admin(cluster_info: ClusterInfo) -> Iterator[Kube]:
    """An admin connection for checking what a session left behind."""
    kube = Kube(ResolvedTarget(str(cluster_info.kubeconfig), cluster_info.context, "default"))
    yield kube
    kube.close()
