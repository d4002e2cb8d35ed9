"""A push's scan from its loaded index by stat alone, as ``git status`` refreshes git's index.

A full walk lists every directory and matches every name it does not know; on 100k files it
cost 2.7 times ``git status``'s CPU, most of it Python's own per-name work (issue 22). A push
starts from the index of the last sync, which holds every path's stat data and every
directory's mtime, so:

* every indexed path is ``lstat``-ed in one C loop (on a large tree half of them in a helper
  process on another core, :mod:`.lstats`), and the results compared with the index's columns
  a column at a time (no row, no :class:`.Entry` made);
* a directory whose mtime is the one it was listed at (and was not racy then) holds the same
  names as then (POSIX moves a directory's mtime with each name added, removed or renamed in
  it; git's untracked cache trusts the same), so it is not listed again; the root's mtime is
  kept in the index for the same purpose;
* a path whose stat moved, or which is racy, is named to :class:`.rescan._Rescan`, which lists
  its directory and each directory whose mtime moved, exactly as :mod:`.rescan` does for
  ``doit dev``; the texts of every ignore file the index read are read and compared first
  (a changed one means the full walk).

Unchanged, the result is :meth:`.Snapshot.unchanged`: no row of the index is even made.
Anything it cannot prove (no root mtime in an index written by an older pyodo, other rules,
too many moved paths) is the full walk of :meth:`.FileIndex.scan`.
"""

from __future__ import annotations

import operator
import os
import stat
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

from pyodo_tasks.core.index import IGNORE_FILES, Changes, FileIndex, _read_ignores
from pyodo_tasks.core.lstats import moved
from pyodo_tasks.core.rescan import _Rescan, children_of
from pyodo_tasks.core.snapshot import RACY_WINDOW_NS, Snapshot
from pyodo_tasks.core.statcache import KIND_BITS, KIND_BYTES

__all__ = ["changes", "scan"]


def scan(index: FileIndex, previous: Snapshot | None) -> Snapshot:
    """What ``index.scan(previous=previous)`` makes, by stat alone where that is exact."""
    if previous is None or previous.rules_key != index.rules_key:
        return index.scan(previous=previous)
    started = time.time_ns()
    moved = _moved(index, previous)
    if moved is not None:
        named, relist = moved
        if not named and not relist:
            return previous.unchanged(started)
        snapshot = _Rescan(index, previous, children_of(previous)).run_exact(named, relist)
        if snapshot is not None:
            return snapshot
    return index.scan(previous=previous)


def changes(index: FileIndex) -> tuple[Changes, Snapshot]:
    """:meth:`.FileIndex.changes` (load, scan, diff, commit what needs no copy), scanning
    through :func:`scan`: what a push does."""
    return index.changes(scan)


def _moved(index: FileIndex, previous: Snapshot) -> tuple[set[str], set[str]] | None:
    """The paths whose stat moved or cannot be trusted, and the directories whose names
    may have changed (``""``: the root); None when only the full walk can tell."""
    root = os.fspath(index.root)
    racy_from = previous.scanned_at_ns - RACY_WINDOW_NS
    root_mtime = previous.root_mtime_ns
    if root_mtime is None:
        return None  # an index written by an older pyodo: the root's names are not known
    try:
        root_now = os.stat(root).st_mtime_ns
    except OSError:
        return None  # the full walk says what is wrong with the root
    relist = {""} if root_now != root_mtime or root_mtime >= racy_from else set()
    rows = _rows_of(previous, root)
    mtimes = rows.mtimes
    found = moved(rows.prefix, rows.paths, (mtimes, rows.sizes, rows.modes), racy_from)
    named: set[str] = set()
    for i, (mtime, _, mode) in found.items():
        kind = rows.kinds[i]
        same = (mtime, mode) == (mtimes[i], rows.modes[i])
        if kind != rows.file and same and mtime < racy_from:
            continue  # a directory's or link's size is not in its row: not a change
        path = rows.paths[i]
        rel = path.decode("utf-8", "surrogateescape") if isinstance(path, bytes) else path
        if kind == rows.dir and stat.S_ISDIR(mode):
            relist.add(rel)
        else:
            named.add(rel)
    if not _same_ignores(root, previous, relist):
        return None
    return named, relist


class _Rows(NamedTuple):
    """The previous snapshot's rows as columns to compare with the disk: the stat cache's
    (bytes paths, a kind byte each) or the index file's (str paths, kind names)."""

    prefix: Any  # the root and a slash, of the paths' type
    paths: Sequence[Any]
    kinds: Sequence[Any]
    mtimes: Sequence[int]
    sizes: Sequence[int]
    modes: Sequence[int]  # st_mode as lstat gives it: the kind's type bits and permissions
    file: Any  # the kind of a file and of a directory, as ``kinds`` holds them
    dir: Any


def _rows_of(previous: Snapshot, root: str) -> _Rows:
    prefix = root if root.endswith("/") else root + "/"
    cache = previous._stat
    if cache is not None:
        return _Rows(
            os.fsencode(prefix),
            cache.paths,
            cache.kinds,
            cache.mtimes,
            cache.sizes,
            cache.modes,
            KIND_BYTES["file"],
            KIND_BYTES["dir"],
        )
    paths, (kinds, sizes, mtimes, modes, *_) = previous.columns()
    full_modes = list(map(operator.or_, map(KIND_BITS.__getitem__, kinds), modes))
    return _Rows(prefix, paths, kinds, mtimes, sizes, full_modes, "file", "dir")


def _same_ignores(root: str, previous: Snapshot, relist: set[str]) -> bool:
    """Whether every ignore file the previous scan read, and those now in the directories to
    list again, hold the same text (else rows kept under the old rules may be wrong)."""
    for rel in set(previous.ignores) | relist:
        directory = os.path.join(root, rel) if rel else root
        present = {n for n in IGNORE_FILES if os.path.lexists(os.path.join(directory, n))}
        if _read_ignores(directory, present) != previous.ignores.get(rel):
            return False
    return True
