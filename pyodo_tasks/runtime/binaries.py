"""The static supervisor binary for a node's architecture: shipped in the wheel, else built.

Why both: a wheel built with ``pip wheel .`` carries binaries for linux/amd64 and linux/arm64
(``setup.py`` builds them from ``supervisor/``), so a user needs no Go; a source checkout has no
binaries and builds the one it needs with Go, once, cached under ``~/.cache/pyodo/runtime`` by the
sources' digest. A shipped binary is used only when the digest it was built from (the ``digest``
file beside it) is the sources' digest now, so an edited checkout never runs a stale agent.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from filelock import FileLock, Timeout

from pyodo_tasks import host
from pyodo_tasks.errors import ClusterSetupError, RuntimeDeliveryError
from pyodo_tasks.paths import cache_root
from pyodo_tasks.runtime.sources import RUNTIME_DIR, SUPERVISOR_SOURCE_DIR, runtime_digest

__all__ = [
    "ARCHITECTURES",
    "SHIPPED_DIR",
    "build_supervisor",
    "go_arch",
    "supervisor_binary",
]

#: Go architectures a wheel ships (``GOARCH`` values).
ARCHITECTURES = ("amd64", "arm64")
#: Where a wheel keeps them: ``bin/linux-<arch>/supervisor`` and ``bin/linux-<arch>/digest``.
SHIPPED_DIR = RUNTIME_DIR / "bin"
#: ``uname -m`` (and Node ``architecture``) words for each Go architecture.
_MACHINE_WORDS = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv8l": "arm64",
}
_BUILD_TIMEOUT = 600.0


def go_arch(machine: str) -> str | None:
    """The Go architecture for ``uname -m``'s or a Node's word; None when pyodo has none."""
    return _MACHINE_WORDS.get(machine.strip().lower())


def find_go() -> str | None:
    """The go binary: PATH, then the usual /usr/local/go install; None without one."""
    found = shutil.which("go")
    if found:
        return found
    return "/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go", os.X_OK) else None


def build_supervisor(out: Path, arch: str, go: str | None = None) -> None:
    """``go build`` the static supervisor for linux/``arch`` to ``out`` (stdlib only: offline)."""
    go = go or find_go()
    if go is None:
        raise ClusterSetupError("go not found: pyodo's supervisor is built with Go")
    out.parent.mkdir(parents=True, exist_ok=True)
    host.run(
        [go, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, "."],
        cwd=SUPERVISOR_SOURCE_DIR,
        timeout=_BUILD_TIMEOUT,
        what=f"building pyodo's supervisor for linux/{arch}",
        env={
            "CGO_ENABLED": "0",
            "GOOS": "linux",
            "GOARCH": arch,
            "GOTOOLCHAIN": "local",
            "GOWORK": "off",
            "GOFLAGS": "",
        },
    )
    if not out.is_file():
        raise ClusterSetupError(f"go build did not produce {out}")


def _shipped(arch: str) -> Path | None:
    binary = SHIPPED_DIR / f"linux-{arch}" / "supervisor"
    try:
        stamp = (binary.parent / "digest").read_text().strip()
    except OSError:
        return None
    return binary if stamp == runtime_digest() and binary.is_file() else None


def supervisor_binary(arch: str) -> Path:
    """The supervisor for linux/``arch``: the wheel's, else the cache's, else built now.

    Raises RuntimeDeliveryError naming the fix when there is none and Go cannot build one.
    """
    shipped = _shipped(arch)
    if shipped is not None:
        return shipped
    cached = cache_root() / "runtime" / runtime_digest() / f"linux-{arch}" / "supervisor"
    if cached.is_file():
        return cached
    go = find_go()
    if go is None or arch not in ARCHITECTURES:
        have = sorted(a for a in ARCHITECTURES if _shipped(a) is not None)
        why = "no Go on PATH" if go is None else f"Go builds only {', '.join(ARCHITECTURES)}"
        raise RuntimeDeliveryError(
            f"this pyodo has no agent binary for linux/{arch} (it ships "
            f"{', '.join(have) or 'none for these sources'}) and cannot build one ({why}): "
            "install a pyodo "
            "wheel built with Go (`pip wheel .` in a checkout), install Go, or use the "
            "init-container layout (PYODO_LAYOUT=init, PYODO_INIT_IMAGE=<image>)"
        )
    cached.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(os.fspath(cached.parent / ".lock")).acquire(timeout=_BUILD_TIMEOUT):
            if not cached.is_file():
                tmp = cached.with_name("supervisor.part")
                build_supervisor(tmp, arch, go)
                os.replace(tmp, cached)
    except Timeout as exc:
        raise RuntimeDeliveryError(
            f"waited {_BUILD_TIMEOUT:g}s for another build of {cached}"
        ) from exc
    return cached
