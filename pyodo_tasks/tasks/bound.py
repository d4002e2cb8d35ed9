"""One component directory bound to a target: what every doit task of it acts on.

Why apart from the tasks: the push graph (:mod:`.push`) and the tasks on the running component
(:mod:`.running`) share the directory, the target, the settings from doit's variables and the
:class:`~pyodo_tasks.core.component.Component` made from them on first use, and nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from pyodo_tasks.core.component import Component
from pyodo_tasks.core.devfile import REGISTRY_ENV, ImageOverrides
from pyodo_tasks.core.kube.target import Target
from pyodo_tasks.core.options import ComponentOptions

__all__ = ["BoundComponent", "Task", "say", "task"]

Task = dict[str, Any]


def task(doc: str, action: Any, *, uptodate: Any = False, after: str | None = None) -> Task:
    """A task dict of one ``action``: every task of a component has that shape. ``uptodate``
    False (the default) runs it each time; ``after`` names the task it follows (``task_dep``)."""
    made: Task = {"doc": doc, "actions": [action], "uptodate": [uptodate]}
    if after is not None:
        made["task_dep"] = [after]
    return made


def say(line: str) -> None:
    print(line, flush=True)


class BoundComponent:
    """A component directory, its target and settings; the :class:`Component` made on first
    use, so listing the tasks contacts no cluster."""

    def __init__(
        self,
        path: Path | str = ".",
        *,
        target: Target | None = None,
        image_overrides: ImageOverrides | None = None,
        labels: Mapping[str, str] | None = None,
        devfile_registry: str | None = None,
        settings: Mapping[str, str | None] | None = None,
        debug: bool = False,
    ) -> None:
        self.path = Path(path)
        #: ``PYODO_*`` values from doit's variables (``layout=``, ``init_image=``), over the env's.
        self.settings = {k: v for k, v in (settings or {}).items() if v}
        self.target = target
        #: Container name -> image, or a lookup by name (doit's ``image.<container>=``).
        self.image_overrides: ImageOverrides = image_overrides or {}
        self.labels = dict(labels or {})
        #: Registries for ``parent: {id: …}`` (doit ``devfile_registry=``), over the env's.
        self.devfile_registry = devfile_registry
        #: ``doit push debug=true``: the pod runs the devfile's debug command
        #: (:mod:`pyodo_tasks.core.debugging`); switching it rolls the pod.
        self.debug = debug

    @property
    def environ(self) -> Mapping[str, str]:
        """The environment the component reads its ``PYODO_*`` settings from: doit's variables
        (``layout=``, ``init_image=``, ``devfile_registry=``) over the process's. ``doit dev``
        gets the same, so it honours the variables ``doit push`` does."""
        chosen = dict(self.settings)
        if self.devfile_registry:
            chosen[REGISTRY_ENV] = self.devfile_registry
        return {**os.environ, **chosen} if chosen else os.environ

    @property
    def options(self) -> ComponentOptions:
        """What its :class:`Component` is made from; ``doit dev`` makes its own from the same."""
        return ComponentOptions(
            self.target, self.image_overrides, self.labels, self.environ, self.debug
        )

    @cached_property
    def component(self) -> Component:
        return self.options.component(self.path)

    def devfile_path(self) -> str:
        from pyodo_tasks.core.devfile import find_devfile

        return str(find_devfile(self.path))
