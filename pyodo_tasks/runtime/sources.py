"""Where the runtime's source files are, and the one digest that names a version of them.

Why a digest of sources rather than a version number: a pod holds whatever runtime pyodo put into
it, and the pod must be replaced when that changes (the app container's PID 1 is the supervisor).
The digest goes into the pod template (a changed runtime rolls the pod) and names the marker file
that says a pod already has it.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

__all__ = [
    "INIT_SOURCE_DIR",
    "RUNTIME_DIR",
    "SUPERVISOR_SOURCE_DIR",
    "runtime_digest",
    "source_files",
]

RUNTIME_DIR = Path(__file__).resolve().parent
#: Scripts and configuration that end up at ``/opt/odo`` (the init image keeps them at
#: ``/opt/odo-init``).
INIT_SOURCE_DIR = RUNTIME_DIR / "init"
#: The supervisor's Go module (stdlib only).
SUPERVISOR_SOURCE_DIR = RUNTIME_DIR / "supervisor"


def source_files() -> list[Path]:
    """Every file the runtime is made from, sorted: the scripts and configuration under
    ``init/``, the Go module's top-level files. Exactly what a wheel ships (pyproject's
    package-data), so a wheel's binary stamp and an installed pyodo agree even when a checkout
    holds strays (a build directory, an editor's backup) beside them."""
    scripts = [p for p in INIT_SOURCE_DIR.rglob("*") if p.is_file()]
    module = [p for p in SUPERVISOR_SOURCE_DIR.iterdir() if p.is_file()]
    keep = [
        p for p in scripts + module if not any(part.startswith((".", "__")) for part in p.parts)
    ]
    return sorted(keep)


@functools.lru_cache(maxsize=1)
def runtime_digest() -> str:
    """Hex sha256 (first 16) over the runtime's source files' names and bytes."""
    digest = hashlib.sha256()
    for path in source_files():
        digest.update(f"\0{path.relative_to(RUNTIME_DIR).as_posix()}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
