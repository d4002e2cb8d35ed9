"""The component's side on this machine: its file index and state file, kept per target.

What a sync would send is the index's diff against what the state file says was synced into
THIS container instance: a new pod or a restarted container gets everything. The state file
also remembers what was last built, so an unchanged tree is not built twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from pyodo_tasks.core import podstate
from pyodo_tasks.core.index import Changes, FileIndex, Snapshot
from pyodo_tasks.core.statefile import StateFile

if TYPE_CHECKING:
    from kubernetes import client as k8s

__all__ = ["Workspace"]


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
    ) -> None:
        self.root = root
        self.state_dir = state_dir
        self.key = key
        self.app_container = app_container
        self.exclude = tuple(exclude)
        self.state = StateFile(state_dir / f"state-{key}.json")
        self._index: FileIndex | None = None

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
        new = index.scan(previous=old)
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
        self.index().index_path.unlink(missing_ok=True)
