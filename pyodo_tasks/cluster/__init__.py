"""Kubernetes clusters for pyodo's tests and demo, behind one small :class:`Provider` interface.

``get_provider("local")`` is a real single-node cluster built on this host; ``"kind"`` a kind
cluster; ``"kubeconfig"`` any existing cluster. ``provider.up()`` returns a :class:`ClusterInfo`
with the admin kubeconfig (and, for ``local``, a namespace-restricted one).

Providers are registered in the entry-point group ``pyodo.providers`` (name = "module:Class",
pyodo's own in ``pyproject.toml``), so this package never names the test bed that implements
``local`` and ``kind``: a provider's module is imported only when it is asked for.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, distributions
from typing import Any

from pyodo_tasks.cluster.provider import ClusterInfo, ClusterStatus, ImageArchiveLike, Provider
from pyodo_tasks.errors import ConfigError

__all__ = [
    "PROVIDERS",
    "PROVIDER_GROUP",
    "ClusterInfo",
    "ClusterStatus",
    "ImageArchiveLike",
    "Provider",
    "get_provider",
    "planned_context",
]

#: The entry-point group that maps a provider's name to its :class:`Provider` class.
PROVIDER_GROUP = "pyodo.providers"


def _registered() -> dict[str, EntryPoint]:
    """The group's entry points by name, the first distribution on the path winning a name.

    Every distribution is read, as pluggy reads ``pytest11``: ``entry_points(group=...)`` keeps
    one distribution per project name, and a stale ``pyodo.egg-info`` ahead of the checkout's
    current one (``pip install .`` leaves it in the tree) would hide the group.
    """
    found: dict[str, EntryPoint] = {}
    for dist in distributions():
        for entry in dist.entry_points.select(group=PROVIDER_GROUP):
            found.setdefault(entry.name, entry)
    return found


#: The registered providers' names, sorted.
PROVIDERS: tuple[str, ...] = tuple(sorted(_registered()))


def _provider_class(name: str) -> type[Provider]:
    entry = _registered().get(name)
    if entry is None:
        raise ConfigError(
            f"unknown cluster provider {name!r} "
            + (
                f"(choose one of: {', '.join(PROVIDERS)})"
                if PROVIDERS
                else f"(none registered in the entry-point group {PROVIDER_GROUP!r}: install "
                "pyodo, or from a checkout run through `./run exec`)"
            )
        )
    cls = entry.load()
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise ConfigError(f"cluster provider {name!r} ({entry.value}) is not a Provider class")
    return cls


def get_provider(name: str = "local", **options: Any) -> Provider:
    """Return the provider called ``name`` built with ``options`` (its constructor's keywords).

    Only that provider's module is imported: asking for ``kubeconfig`` never touches the local
    cluster's machinery.
    """
    return _provider_class(name)(**options)


def planned_context(name: str) -> str | None:
    """The kubeconfig context ``get_provider(name).up()`` will return, known without building,
    booting or contacting anything (for a report header); None when only ``up()`` knows it
    (or no provider has that name)."""
    if name not in _registered():
        return None
    return _provider_class(name).planned_context()
