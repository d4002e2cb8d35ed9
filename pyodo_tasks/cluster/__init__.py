"""Kubernetes clusters for pyodo's tests and demo, behind one small :class:`Provider` interface.

``get_provider("local")`` is a real single-node cluster built on this host; ``"kind"`` a kind
cluster; ``"kubeconfig"`` any existing cluster. ``provider.up()`` returns a :class:`ClusterInfo`
with the admin kubeconfig (and, for ``local``, a namespace-restricted one).
"""

from __future__ import annotations

from typing import Any

from pyodo_tasks.cluster.provider import ClusterInfo, ClusterStatus, ImageArchiveLike, Provider
from pyodo_tasks.errors import ConfigError

__all__ = [
    "PROVIDERS",
    "ClusterInfo",
    "ClusterStatus",
    "ImageArchiveLike",
    "Provider",
    "get_provider",
    "planned_context",
]

PROVIDERS = ("local", "kind", "kubeconfig")


def get_provider(name: str = "local", **options: Any) -> Provider:
    """Return the provider called ``name`` built with ``options`` (its constructor's keywords).

    Imports lazily so asking for ``kubeconfig`` never touches the local cluster's machinery.
    """
    if name == "local":
        from pyodo_tasks.testbed.local import LocalProvider

        return LocalProvider(**options)
    if name == "kind":
        from pyodo_tasks.testbed.kind import KindProvider

        return KindProvider(**options)
    if name == "kubeconfig":
        from pyodo_tasks.cluster.existing import KubeconfigProvider

        return KubeconfigProvider(**options)
    raise ConfigError(f"unknown cluster provider {name!r} (choose one of: {', '.join(PROVIDERS)})")


def planned_context(name: str) -> str | None:
    """The kubeconfig context ``get_provider(name).up()`` will return, known without building,
    booting or contacting anything (for a report header); None when only ``up()`` knows it."""
    if name == "local":
        from pyodo_tasks.testbed.local import CONTEXT

        return CONTEXT
    if name == "kind":
        from pyodo_tasks.testbed.kind import KindProvider

        return KindProvider().context
    return None
