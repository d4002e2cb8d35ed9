"""``doit why PATH…``: is this file in the pod, and if not, why?

For each path (relative to the component directory, or absolute inside it) :func:`why` gathers
what pyodo knows, as data the task formats:

* whether a scan indexes it, and which rule decides: the index's own walk
  (:meth:`~pyodo_tasks.core.index.FileIndex.explain`: the ignore file and line, a negation, an
  ignored parent directory, a fixed rule);
* its entry in the committed index (``.pyodo/index-<target>.json``): what the last sync sent;
* how the local file compares with that entry: unchanged, changed since, deleted, never synced;
* the pod's copy: ONE exec of the verifier's ``b2sum`` (:func:`.verify.container_digests`) for
  every asked path at once, compared with the index and the local file. No running pod (or a
  cluster that does not answer) is said, not raised: the local half still answers;
* when the index was last committed (:attr:`.index.Snapshot.committed_at_ns`; ``None`` for an
  index an older pyodo wrote).

A path outside the component is a :class:`~pyodo_tasks.errors.ConfigError` naming the fix,
raised before anything is read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pyodo_tasks.core.index import Entry, Explanation, Snapshot, hash_file
from pyodo_tasks.core.verify import container_digests
from pyodo_tasks.errors import ConfigError, PyodoError

if TYPE_CHECKING:
    from pyodo_tasks.core.component import Component

__all__ = ["LocalState", "PathReport", "PodState", "WhyReport", "relative_path", "why"]

#: How the local path compares with the committed index.
LocalState = Literal["ignored", "ignored-since", "unsynced", "unknown", "deleted", "same", "stale"]
#: How the pod's copy compares: ``same`` as the local file; ``synced``: the index's version
#: while the local file changed or went; ``differs`` from both; ``absent``; ``unhashed`` (a
#: directory or a link); ``unknown`` (no pod, or it could not be asked).
PodState = Literal["same", "synced", "differs", "absent", "unhashed", "unknown"]


@dataclass(frozen=True)
class PathReport:
    """Everything :func:`why` found about one path. Digests are blake2b-128 hex (b2sum's)."""

    path: str
    ignore: Explanation
    #: What is on disk now (size, mtime…; None: nothing there) and in the committed index.
    local: Entry | None
    entry: Entry | None
    local_state: LocalState
    pod_state: PodState
    local_digest: str | None = None
    index_digest: str | None = None
    pod_digest: str | None = None


@dataclass(frozen=True)
class WhyReport:
    """:func:`why`'s answer: the component, its index, its pod, one :class:`PathReport` a path.

    ``pod`` is the running pod's name (None: none runs); ``pod_note`` says why the pod's copies
    are unknown, or that the index belongs to another container. ``synced_at_ns``: when the
    index was last committed (None: never, or an older pyodo did not record it)."""

    component: str
    root: Path
    index_path: Path
    #: False: nothing was ever synced to this target (no committed index).
    index_exists: bool
    synced_at_ns: int | None
    pod: str | None
    dest: str
    pod_note: str
    paths: tuple[PathReport, ...]


def relative_path(root: Path, raw: str) -> str:
    """``raw`` (relative to ``root``, or absolute) as the index names it; a ConfigError naming
    the fix when it is not inside ``root``. Links are not resolved: a link is a path itself."""
    absolute = os.path.abspath(root)
    full = os.path.normpath(os.path.join(absolute, raw)) if raw else ""
    for base in {absolute, os.path.realpath(root)}:
        rel = os.path.relpath(full, base) if full else "."
        if rel != "." and rel != ".." and not rel.startswith(".." + os.sep):
            return Path(rel).as_posix()
    raise ConfigError(
        f"doit why: {raw!r} is not a path inside the component directory {absolute}: give one "
        "relative to that directory (e.g. server.js) or an absolute path inside it"
    )


def why(component: Component, paths: Sequence[str]) -> WhyReport:
    """What pyodo knows about each of ``paths`` (see the module docstring); one exec at most."""
    root = component.root
    rels = [relative_path(root, raw) for raw in paths]
    index = component.index()
    snapshot = index.load()
    pod, note = _running_pod(component)
    if pod is not None and component.state.get("container") != component.container_instance(pod):
        note = (
            f"the index is not of pod/{pod.metadata.name}'s current container (a new pod or a "
            "restarted one): the next push sends everything"
        )
    locals_ = {rel: _stat(root / rel) for rel in rels}
    entries = {rel: _entry(snapshot, rel) for rel in rels}
    asked = [r for r in rels if _kind(locals_[r], entries[r]) not in ("dir", "link")]
    actual: dict[str, str] | None = None
    if pod is not None:
        actual, failed = _pod_digests(component, pod.metadata.name, asked)
        note = failed or note
    reports = tuple(
        _report(root, rel, index.explain(rel, _is_dir(local, entry)), local, entry, actual)
        for rel, local, entry in ((r, locals_[r], entries[r]) for r in rels)
    )
    return WhyReport(
        component=component.name,
        root=root,
        index_path=index.index_path,
        index_exists=snapshot is not None,
        synced_at_ns=snapshot.committed_at_ns if snapshot is not None else None,
        pod=pod.metadata.name if pod is not None else None,
        dest=component.devfile.source_dir,
        pod_note=note,
        paths=reports,
    )


def _running_pod(component: Component) -> tuple[Any, str]:
    """The component's running pod and "", or None and what to say instead."""
    try:
        pod = component.pods.newest_running()
    except PyodoError as exc:
        return None, f"the cluster did not answer, pod copies unknown: {exc}"
    if pod is None:
        return None, (
            f"no pod of component {component.name} runs in namespace {component.namespace}: "
            "`doit push` starts one"
        )
    return pod, ""


def _pod_digests(
    component: Component, pod: str, paths: Sequence[str]
) -> tuple[dict[str, str] | None, str]:
    """``{path: digest}`` of ``paths`` in the app container (one exec), or None and why not."""
    app = component.devfile.app_container
    try:
        found = container_digests(
            component.kube, pod, app.name, component.devfile.source_dir, paths, image=app.image
        )
    except PyodoError as exc:
        return None, f"could not hash the pod's copies: {exc}"
    return found, ""


def _stat(path: Path) -> Entry | None:
    """``path`` as the index would record it now (links not followed), or None."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        return Entry("dir", 0, st.st_mtime_ns, mode)
    if stat.S_ISLNK(st.st_mode):
        try:
            target: str | None = os.readlink(path)
        except OSError:  # gone since the lstat
            target = None
        return Entry("link", 0, st.st_mtime_ns, mode, link_target=target)
    return Entry("file", st.st_size, st.st_mtime_ns, mode)


def _entry(snapshot: Snapshot | None, rel: str) -> Entry | None:
    return snapshot[rel] if snapshot is not None and rel in snapshot else None


def _kind(local: Entry | None, entry: Entry | None) -> str | None:
    """What the path is here, else what it was when synced; None when neither knows it."""
    found = local or entry
    return found.kind if found is not None else None


def _is_dir(local: Entry | None, entry: Entry | None) -> bool:
    return _kind(local, entry) == "dir"


def _report(
    root: Path,
    rel: str,
    ignore: Explanation,
    local: Entry | None,
    entry: Entry | None,
    actual: dict[str, str] | None,
) -> PathReport:
    """One path's facts, compared: local vs index, pod vs both."""
    path = root / rel
    local_digest = hash_file(path) if local is not None and local.kind == "file" else None
    index_digest = None
    if entry is not None and entry.kind == "file" and not entry.stale:
        index_digest = entry.digest or hash_file(path, expect=entry)
    local_state = _local_state(ignore, local, entry, local_digest, index_digest)
    pod_digest = actual.get(rel) if actual is not None else None
    if actual is None:
        pod_state: PodState = "unknown"
    elif _kind(local, entry) in ("dir", "link"):
        pod_state = "unhashed"
    elif pod_digest is None:
        pod_state = "absent"
    elif pod_digest == local_digest:
        pod_state = "same"
    elif pod_digest == index_digest:
        pod_state = "synced"
    else:
        pod_state = "differs"
    return PathReport(
        rel, ignore, local, entry, local_state, pod_state, local_digest, index_digest, pod_digest
    )


def _local_state(
    ignore: Explanation,
    local: Entry | None,
    entry: Entry | None,
    local_digest: str | None,
    index_digest: str | None,
) -> LocalState:
    if ignore.ignored:
        return "ignored-since" if entry is not None else "ignored"
    if entry is None:
        return "unsynced" if local is not None else "unknown"
    if local is None:
        return "deleted"
    if local.kind != entry.kind or entry.stale or local.mode != entry.mode:
        return "stale"
    if local.kind == "link":
        return "same" if local.link_target == entry.link_target else "stale"
    if local.kind == "dir" or (local.size, local.mtime_ns) == (entry.size, entry.mtime_ns):
        return "same"
    same = local.size == entry.size and local_digest is not None
    return "same" if same and local_digest == index_digest else "stale"
