"""Where pyodo caches what it builds: one setting for every part (cluster, images, CLI tools).

``PYODO_CACHE_DIR`` overrides ``~/.cache/pyodo``; the ``run`` script's virtualenv lives there too.
The cache survives ``cluster down``; a warm run reuses it, a cold run fills it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root() -> Path:
    """pyodo's cache directory (``$PYODO_CACHE_DIR`` or ``~/.cache/pyodo``)."""
    override = os.environ.get("PYODO_CACHE_DIR")
    return Path(override) if override else Path.home() / ".cache" / "pyodo"
