"""The devfile 2.x model: the subset odo acts on, validated before anything touches a cluster.

A component is a directory holding a ``devfile.yaml``. :func:`load_devfile` reads it into
frozen dataclasses, checking every field on the way with its dotted path, so a mistake is
reported as one line naming the file, the field and the fix.

The package, one job per module: :mod:`.model` (the dataclasses everyone reads),
:mod:`.fields` (typed readers keeping field paths), :mod:`.parser` (the document: schema
version, metadata, variables, events) with its readers :mod:`.components`, :mod:`.commands` and
:mod:`.manifests`,
:mod:`.loader` (file, YAML, image overrides), :mod:`.parents` (resolving ``parent:``),
:mod:`.merge` (the spec's override and merge rules), :mod:`.registry` (fetching parents from
paths, URLs and devfile registries, with a cache).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyodo_tasks._lazy import lazy_exports
from pyodo_tasks.core.devfile import model

# The model is a leaf (dataclasses and constants, nothing costly), so its names are bound here
# and listed once, in its own ``__all__``; the parser and the registry stay lazy.
from pyodo_tasks.core.devfile.model import *  # noqa: F403

if TYPE_CHECKING:
    from pyodo_tasks.core.devfile.loader import ImageOverrides, find_devfile, load_devfile
    from pyodo_tasks.core.devfile.registry import REGISTRY_ENV, registry_setting

__all__ = ["REGISTRY_ENV", "ImageOverrides", "find_devfile", "load_devfile", "registry_setting"]
__all__ += model.__all__

# Imported on first use (PEP 562): the plugin's option parsing needs only the registry setting,
# and every xdist worker would otherwise load the parser at start-up.
__getattr__ = lazy_exports(
    globals(),
    {
        "loader": ("ImageOverrides", "find_devfile", "load_devfile"),
        "registry": ("REGISTRY_ENV", "registry_setting"),
    },
)
