"""The component's side on this machine: its file index and state file, kept per target.

What a sync would send is the index's diff against what the state file says was synced into
THIS container instance: a new pod or a restarted container gets everything. The state file
also remembers what was last built, so an unchanged tree is not built twice.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from pyodo_tasks.core import podstate, refresh
from pyodo_tasks.core.index import Changes, FileIndex, Snapshot
from pyodo_tasks.core.statefile import StateFile
from pyodo_tasks.errors import SyncError

if TYPE_CHECKING:
    from kubernetes import client as k8s

__all__ = ["SYNC_LOCK_TIMEOUT", "Workspace"]

#: How long a sync waits for another process's sync of the same component and target (a
#: whole push's build may run under it).
SYNC_LOCK_TIMEOUT = 900.0


class Workspace:
    """``root``'s index and state under ``state_dir``, named by ``key`` (see
    :func:`.teardown.state_key`), for the container named ``app_container``; ``exclude`` lists
    files never synced."""

    def __init__(
        self,
        root: Path,
        state_dir: Path,
        key: str,
        app_container: str,
        exclude: Iterable[Path] = (),
        by_stat: bool = True,
    ) -> None:
        """``by_stat``: pushes refresh the index by stat (:mod:`.refresh`), else walk."""
        self.root = root
        self.by_stat = by_stat
        self.state_dir = state_dir
        self.key = key
        self.app_container = app_container
        self.exclude = tuple(exclude)
        self.state = StateFile(state_dir / f"state-{key}.json")
        self._index: FileIndex | None = None

    @contextmanager
    def syncing(self, timeout: float = SYNC_LOCK_TIMEOUT) -> Iterator[None]:
        """Held from reading the index to committing it: one sync per component and target.

        Two processes syncing at once (two ``doit push``, a push beside ``doit dev``) would
        each send their diff against the same saved index, and the last to commit would forget
        what the other put in the container: a file renamed twice while two pushes ran stayed
        in the container for good, and no later push removed it (the chaos suite's concurrent
        pushes). The second waits for the first (bounded); an OS file lock, so a killed process
        never leaves it held.
        """
        self.state_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(os.fspath(self.state_dir / f"sync-{self.key}.lock"))
        try:
            lock.acquire(timeout=timeout)
        except Timeout as exc:
            raise SyncError(
                f"another process has been syncing {self.root} to this target for {timeout:g}s "
                f"(a doit push or doit dev); nothing was sent"
            ) from exc
        try:
            yield
        finally:
            lock.release()

    def container_instance(self, pod: k8s.V1Pod) -> str:
        """The app container's current instance (see :func:`.podstate.container_instance`)."""
        return podstate.container_instance(pod, self.app_container)

    def index(self) -> FileIndex:
        """One :class:`FileIndex` for the workspace's life: it keeps its compiled ignore files
        and its last committed snapshot (each sync of doit dev would re-read both)."""
        if self._index is None:
            self._index = FileIndex(
                self.root, state_dir=self.state_dir, key=self.key, exclude=self.exclude
            )
        return self._index

    def pending(self, pod: k8s.V1Pod) -> tuple[Changes, Snapshot, k8s.V1Pod]:
        """What a sync would send now, against the index kept for ``pod``'s container."""
        index = self.index()
        same_pod = self.state.get("container") == self.container_instance(pod)
        old = index.load() if same_pod else None
        journal = index.journal
        # doit dev: rescan only what its watcher named since; a push: refresh by stat.
        if journal is not None:
            new = journal.scan(index, old)
        else:
            new = refresh.scan(index, old) if self.by_stat else index.scan(previous=old)
        return index.diff(old, new), new, pod

    def sync_digest(self, pod: k8s.V1Pod) -> str:
        """A digest of (tree, container): equal digests mean a sync would send nothing."""
        _, snapshot, pod = self.pending(pod)
        return f"{self.container_instance(pod)}:{snapshot.digest()}"

    def build_uptodate(self, digest: str) -> bool:
        return bool(self.state.get("built") == digest)

    def mark_built(self, digest: str) -> None:
        self.state.update(built=digest)

    def forget(self) -> None:
        """Remove the state file and the index (the component was deleted)."""
        self.state.unlink()
        self.index().forget()
