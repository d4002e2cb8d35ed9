"""What a run builds its cluster connection and components from: the real engine, or fakes.

One small value shared by the run's parts (:mod:`.connection`, :mod:`.deployments`,
:func:`pytest_pyodo.session.sweep`), so the plugin's own tests hand in-memory fakes to all of
them at once instead of patching modules. A plain library (no pytest).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyodo_tasks import Component, verify_sync
from pyodo_tasks.cluster import Provider, get_provider
from pyodo_tasks.core.kube import Kube, ResolvedTarget

__all__ = ["Engine"]


@dataclass(frozen=True)
class Engine:
    """What a run builds its cluster connection and components from.

    The defaults are the real ones; the plugin's own tests pass in-memory fakes here (through
    ``PluginState.engine``) instead of patching this module.
    """

    provider: Callable[..., Provider] = get_provider
    kube: Callable[[ResolvedTarget], Kube] = Kube
    component: Callable[..., Component] = Component
    verify: Callable[..., Any] = verify_sync
