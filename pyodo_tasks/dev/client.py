"""The client half of ``doit dev``: turns local edits into spec writes, and status into output.

It never touches the component's pod: it only writes the spec ConfigMap (devfile text, source
digest, generation) when something a sync would act on changed, and renders the status
ConfigMap the controller writes. Keeping the client this thin is what lets every event reach the
one reconcile loop through the same door (seed 004).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import watchfiles

from pyodo_tasks.core.index import FileIndex
from pyodo_tasks.core.kube import Kube
from pyodo_tasks.core.rescan import Journal, LiveTree
from pyodo_tasks.dev.display import Display
from pyodo_tasks.dev.files import relevant_paths, tree_paths
from pyodo_tasks.dev.state import Spec, Status, configmap, spec_name
from pyodo_tasks.errors import ClusterError

__all__ = ["DevClient"]

log = logging.getLogger(__name__)


class DevClient:
    """Publishes the spec for one component directory and shows the status it reads back."""

    def __init__(
        self,
        kube: Kube,
        component: str,
        devfile_path: Path,
        index: FileIndex,
        display: Display,
        labels: Mapping[str, str] | None = None,
        on_published: Callable[[Spec, float], None] | None = None,
    ) -> None:
        self.kube = kube
        #: Told about every new spec (and the save that caused it) BEFORE it is written: the
        #: loop in this process starts on it at once, the ConfigMap write is the record.
        self.on_published = on_published
        self.component = component
        self.devfile_path = devfile_path.resolve()
        self.root = index.root.resolve()
        self.index = index
        self.display = display
        self.labels = dict(labels or {})
        self._lock = threading.Lock()
        #: What the watcher names goes to the syncs too (the controller's, in this process).
        self._journal = index.journal = Journal()
        #: The tree as last scanned: rescanned from the watcher's paths after each batch (and
        #: handed to the journal, so the controller's first sync shares its rows).
        self._tree = LiveTree(index, self._journal)
        self._published: Spec | None = None
        #: The generation before our first write (an earlier session's), so ours only grow.
        self._base_generation = 0
        self._dirty = False

    # -- spec ----------------------------------------------------------------------------------
    def start(self) -> Spec:
        """Scan and publish the first spec, one generation past any earlier session's."""
        existing = self.read_spec()
        generation = existing.generation if existing is not None else 0
        with self._lock:
            self._base_generation = generation
            self._tree.scan()
            spec = self._spec(generation + 1)
            self._write(spec)
        return spec

    def read_spec(self) -> Spec | None:
        obj = self.kube.get("ConfigMap", spec_name(self.component))
        if obj is None:
            return None
        try:
            return Spec.from_data(obj.get("data"))
        except ValueError as exc:
            log.warning("ignoring unreadable %s: %s", spec_name(self.component), exc)
            return None

    def on_files(self, changes: set[tuple[watchfiles.Change, str]]) -> None:
        """A debounced batch from the watcher: rescan what it names (all of the tree when that
        is not known, see :class:`LiveTree`), publish if a sync-relevant path moved."""
        changed = [path for _, path in changes]
        with self._lock:
            before: Mapping[str, Any] = self._tree.snapshot or {}
            named = tree_paths(changed, self.root)
            self._journal.note(named)  # first: a sync that starts now must see them
            after = self._tree.update(named)
            paths = relevant_paths(changed, self.root, before, after)
            if not paths and str(self.devfile_path) not in changed:
                log.debug("ignored changes: %s", sorted(changed))
                return
            log.debug("relevant changes: %s", paths)
            self._publish_if_changed(saved_at(self.root, paths))

    def rescan(self) -> None:
        """Publish if the tree moved since the last scan (used once the watch is installed)."""
        with self._lock:
            self._journal.note(None)  # what moved before the watch was installed
            self._tree.scan()
            self._publish_if_changed()

    def flush(self) -> None:
        """Retry a spec write that failed (the cluster blinked); cheap when nothing is owed."""
        with self._lock:
            if self._dirty and self._tree.snapshot is not None:
                self._publish_if_changed()

    def republish(self) -> None:
        """Write the spec again, e.g. after someone deleted the ConfigMap."""
        with self._lock:
            self._dirty = True
            if self._tree.snapshot is not None:
                self._publish_if_changed()

    def _publish_if_changed(self, saved: float = 0.0) -> None:
        last = self._published
        generation = (last.generation if last is not None else self._base_generation) + 1
        spec = self._spec(generation)
        if (
            last is not None
            and not self._dirty
            and (spec.devfile, spec.source_digest) == (last.devfile, last.source_digest)
        ):
            return
        if self.on_published is not None:
            self.on_published(spec, saved or time.monotonic())
        self._write(spec)

    def _spec(self, generation: int) -> Spec:
        try:
            text = self.devfile_path.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as exc:  # deleted mid-rename, say: the controller reports the error
            text = f"# unreadable: {exc.strerror}\n"
        return Spec(devfile=text, source_digest=self._tree.digest(), generation=generation)

    def _write(self, spec: Spec) -> None:
        namespace = self.kube.namespace
        obj = configmap(
            spec_name(self.component),
            self.component,
            namespace,
            "spec",
            spec.to_data(),
            self.labels,
        )
        try:
            self.kube.apply(obj)
        except ClusterError as exc:
            self._dirty = True
            self.display.line(f"[dev] could not update the spec (will retry): {exc}")
            return
        self._dirty = False
        self._published = spec

    @property
    def generation(self) -> int:
        """The last generation written (0 before the first successful write)."""
        return self._published.generation if self._published is not None else 0

    # -- status --------------------------------------------------------------------------------
    def on_status(self, kind: str, obj: Any) -> None:
        """A status ConfigMap event from the watch: show it when it parses."""
        if kind == "DELETED":
            return
        try:
            status = Status.from_data(obj.data)
        except ValueError as exc:
            log.debug("unreadable status: %s", exc)
            return
        self.display.status(status)


def saved_at(root: Path, paths: list[str], limit: float = 10.0) -> float:
    """``time.monotonic()`` of the latest save among ``paths``, from their mtimes.

    The watcher reports a batch only after its debounce; the files' own mtimes say when the
    editor wrote them, which is where save->serving starts. Deleted files have none; an mtime
    in the future or more than ``limit`` seconds old (``cp -p``, a restored backup) is not a
    save time: then the batch's arrival counts.
    """
    now_wall, now_mono = time.time(), time.monotonic()
    latest = 0.0
    for rel in paths:
        try:
            latest = max(latest, os.lstat(root / rel).st_mtime)
        except OSError:
            continue
    age = now_wall - latest
    if not latest or age < 0 or age > limit:
        return now_mono
    return now_mono - age
