"""Lazy exports (PEP 562): a package's public names imported from their home modules on first use.

Used by the ``__init__.py`` of packages whose modules are costly to load (the Kubernetes client,
the devfile parser, the dev loop's session), so importing the package stays cheap::

    __getattr__ = lazy_exports(globals(), {"client": ("Kube",), "target": ("Target",)})

The names stay importable for type checkers through ``if TYPE_CHECKING:`` imports beside it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    namespace: MutableMapping[str, Any], homes: Mapping[str, Iterable[str]]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` for the package whose ``globals()`` is ``namespace``.

    ``homes`` maps a submodule (relative to the package) to the names it exports. A name is
    imported from its home on first access and then stored in ``namespace``, so later
    accesses are plain attribute reads; any other name raises :class:`AttributeError`.
    """
    package = namespace["__name__"]
    home_of = {name: module for module, names in homes.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in home_of:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{home_of[name]}", package), name)
        namespace[name] = value
        return value

    return __getattr__
