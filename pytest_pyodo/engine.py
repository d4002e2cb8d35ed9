"""What a run builds its cluster connection and components from: the real engine, or fakes.

One small value shared by the run's parts (:mod:`.connection`, :mod:`.deployments`,
:func:`pytest_pyodo.session.sweep`), so the plugin's own tests hand in-memory fakes to all of
them at once instead of patching modules. A plain library (no pytest).

The real client is made (and the Kubernetes client imported) only when a part asks for it: an
xdist worker that only attaches to a shared deployment never does (see :mod:`.deployed`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyodo_tasks import Component, verify_sync
from pyodo_tasks.cluster import Provider, get_provider
from pyodo_tasks.core.kube import ResolvedTarget

if TYPE_CHECKING:
    from pyodo_tasks.core.kube import Kube

__all__ = ["Engine"]


def client(target: ResolvedTarget) -> Kube:
    """The official client's :class:`Kube`, imported here (half a second per process)."""
    from pyodo_tasks.core.kube import Kube

    return Kube(target)


@dataclass(frozen=True)
class Engine:
    """What a run builds its cluster connection and components from.

    The defaults are the real ones; the plugin's own tests pass in-memory fakes here (through
    ``PluginState.engine``) instead of patching this module.
    """

    provider: Callable[..., Provider] = get_provider
    kube: Callable[[ResolvedTarget], Kube] = client
    component: Callable[..., Component] = Component
    verify: Callable[..., Any] = verify_sync

    def component_kube(self, target: ResolvedTarget) -> Kube | None:
        """The client a component is handed: none with the real engine (the component makes
        its own on first use, and answers what it can without it), the fake one in tests."""
        return None if self.kube is client else self.kube(target)
