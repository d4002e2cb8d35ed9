"""What a :class:`~.component.Component` is made from besides its directory, as one value.

Why a value of its own: ``doit``'s tasks (:class:`pyodo_tasks.tasks.bound.BoundComponent`) and
``doit dev`` (:class:`pyodo_tasks.dev.session.DevSession`) make components of the same settings
(the target, image overrides, labels, the environment ``PYODO_*`` settings are read from, the
debug switch); ``doit dev`` started from doit is handed the tasks' own, so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyodo_tasks.core.component import Component

if TYPE_CHECKING:
    from pyodo_tasks.core.devfile import ImageOverrides
    from pyodo_tasks.core.kube import Kube, Target

__all__ = ["ComponentOptions"]


@dataclass(frozen=True)
class ComponentOptions:
    """``target`` (None: the environment's), ``image_overrides`` (container name -> image, or
    a lookup by name), ``labels`` added to every object, ``environ`` (None: the process's) and
    ``debug`` (the pod runs the devfile's debug command, :mod:`.debugging`)."""

    target: Target | None = None
    image_overrides: ImageOverrides = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] | None = None
    debug: bool = False

    @property
    def render_options(self) -> dict[str, Any] | None:
        return {"debug": True} if self.debug else None

    def component(
        self, path: Path | str, *, kube: Kube | None = None, exclude: Iterable[Path] = ()
    ) -> Component:
        """The component at ``path``; on ``kube``'s target when one is handed in."""
        return Component(
            path,
            self.target,
            image_overrides=self.image_overrides,
            labels=self.labels,
            render_options=self.render_options,
            environ=self.environ,
            kube=kube,
            exclude=exclude,
        )
