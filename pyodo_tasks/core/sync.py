"""Moving changed files into a container: one tar stream in, one delete call, clear errors.

The :class:`~pyodo_tasks.core.index.Changes` computed by the index are applied in the app
container through exec: ``mkdir -p`` for a first sync, ``rm`` for removed files, ``tar -xf -``
fed with a tar of everything created, modified or renamed. A failed command becomes a
:class:`~pyodo_tasks.errors.SyncError` that says what to fix (no tar in the image, a read-only
source directory); the caller commits the index only after every step succeeded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyodo_tasks.core.index import Changes
from pyodo_tasks.core.tarball import build_tar, delete_argv
from pyodo_tasks.errors import SyncError

if TYPE_CHECKING:
    from pyodo_tasks.core.kube import ExecResult, Kube

__all__ = ["ByteCounter", "SyncTarget", "send_changes", "sync_error"]

#: Bound on one sync command (a large first tar over a slow link included).
SYNC_TIMEOUT = 600.0


class ByteCounter:
    """Iterates tar chunks while counting bytes, for the sync summary."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = chunks
        self.total = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.total += len(chunk)
            yield chunk


class SyncTarget:
    """Where files go: a container of a pod, its image (for error messages) and directory."""

    def __init__(self, kube: Kube, pod: str, container: str, image: str, dest: str) -> None:
        self.kube = kube
        self.pod = pod
        self.container = container
        self.image = image
        self.dest = dest

    def run(self, argv: list[str], data: Iterable[bytes] | None = None) -> None:
        """Run one sync command; raise :class:`SyncError` naming the fix when it fails."""
        result = self.kube.exec(
            self.pod, argv, container=self.container, input=data, timeout=SYNC_TIMEOUT
        )
        if result.returncode != 0:
            raise sync_error(result, argv, self.pod, self.image, self.dest)


def sync_error(result: ExecResult, argv: list[str], pod: str, image: str, dest: str) -> SyncError:
    """The error for a failed sync command: missing tool, read-only directory, or the output."""
    err = (result.stderr or result.stdout).decode("utf-8", "replace").strip()
    if result.returncode == 127:
        return SyncError(
            f"image {image} has no {argv[0]!r}: pyodo copies files with tar; "
            f"use an image that has tar or add it ({err})"
        )
    if "Permission denied" in err or "Read-only" in err:
        return SyncError(
            f"{dest} is not writable in {image}: set the container's "
            f"sourceMapping to a writable directory ({err.splitlines()[-1]})"
        )
    return SyncError(f"{' '.join(argv[:3])} in pod/{pod} exited {result.returncode}: {err}")


def send_changes(target: SyncTarget, root: Path, changes: Changes, snapshot: Any) -> int:
    """Apply ``changes`` in the container; return the tar bytes sent."""
    if changes.full:
        target.run(["mkdir", "-p", target.dest])
    for argv in delete_argv(target.dest, changes.to_delete()) if changes.to_delete() else []:
        target.run(argv)
    if not changes.to_send():
        return 0
    counter = ByteCounter(build_tar(root, changes.to_send(), snapshot))
    target.run(["tar", "-xf", "-", "-C", target.dest], counter)
    return counter.total
