"""A rescan of only the paths a file watcher named, equal to a full scan of the tree.

``doit dev`` rescanned the whole tree after every batch of file events: O(files) per save
(1.8 s on 100k files, 39.5 s on 1M under load, docs/performance.md). The watcher already says
which paths moved, and the previous snapshot holds every directory's ignore-file text, so only
the directories holding those paths need listing again:

* each named path's nearest directory the previous snapshot indexed is listed again (its
  entries re-stat-ed, new names matched against the same nested rules a full scan applies);
* a named directory, and any directory new to the walk, is walked whole (watchfiles may name
  only the directory of a ``mkdir -p`` and the files written in it, samuelcolvin/watchfiles#245);
* the previous snapshot's rows in a listed directory are replaced, and a directory that is
  gone takes its whole subtree with it;
* a listed directory's own row is stat-ed again (adding a name moves its mtime, and the
  watcher names the file, not the directory);
* entries the previous scan could not trust (mtime within the racy window) are named too, so
  they are treated exactly as a full scan treats them.

It falls back to the full scan when it cannot be exact cheaply: no previous scan (or a loaded
one), other rules, a named ignore file or the root itself, or more named paths than
:data:`MAX_PATHS` (a checkout, a build writing everywhere; an overflowing inotify queue drops
events only in such floods).

:class:`LiveTree` is the dev loop's side: it owns its snapshot together with a map of each
directory's rows, updated from what changed, so that a save in a 1M-file tree costs what the
save touched (plus one C-level copy of the path table), not a walk, a sort or a hash of every
path. Every rescan carries :meth:`Snapshot.digest` (a sum of one hash per row) from its
previous snapshot and records which of its rows went (``_gone``), so that the digest and the
index's commit (:meth:`FileIndex.commit`'s log record) cost the rows the save touched too.
"""

from __future__ import annotations

import os
import stat
import threading
import weakref
from collections.abc import Callable, Iterable

from pyodo_tasks.core.index import IGNORE_FILES, FileIndex, _Matchers, _Walk
from pyodo_tasks.core.snapshot import _MOD, RACY_WINDOW_NS, Entry, Snapshot, _row_hash

__all__ = ["MAX_PATHS", "Journal", "LiveTree", "rescan"]

#: More named paths than this (a checkout, a build writing everywhere, a watcher overflow) and
#: listing their directories one by one costs more than the full scan's single walk.
MAX_PATHS = 2000

#: directory (``""`` for the root) -> the paths of its rows, for replacing them without a look
#: at every other row.
Children = dict[str, list[str]]


def rescan(index: FileIndex, previous: Snapshot | None, changed: Iterable[str]) -> Snapshot:
    """The snapshot :meth:`FileIndex.scan` (given ``previous``) would make, looking only at
    ``changed`` (relative POSIX paths: every path created, modified, deleted or moved since
    ``previous`` was scanned) and what they lead to."""
    children = children_of(previous) if previous is not None else None
    return _Rescan(index, previous, children).run(changed) or index.scan(previous=previous)


class LiveTree:
    """The tree as doit dev sees it: the last snapshot, kept current from the watcher's paths.

    It owns the snapshot's :func:`children_of` map, so that a save costs the rows it touched;
    the snapshot's digest (:meth:`Snapshot.digest`, a sum of one hash per row) is carried by
    each rescan the same way.
    """

    def __init__(self, index: FileIndex, journal: Journal | None = None) -> None:
        """``journal`` (the one noting the same watcher's paths, before each update) is told
        of each new snapshot, so a sync that cannot rescan from its committed one rescans
        from this tree (:meth:`Journal.scan`), sharing its rows, instead of walking anew."""
        self.index = index
        self.journal = journal
        self.snapshot: Snapshot | None = None
        self._children: Children | None = None
        #: The committed snapshot the tree last took its rows from (:meth:`_from_commit`).
        self._rebased: weakref.ReferenceType[Snapshot] | Callable[[], None] = _nothing

    def scan(self) -> Snapshot:
        """A full scan (the first, or when the watcher's paths are not known)."""
        if self.journal is not None:
            self.journal.tree_scanning()
        children, previous = None, self.snapshot
        if previous is not None:  # the new snapshot keeps the path strings (see scan)
            children = self._children or children_of(previous)
        else:
            # The first scan starts from the committed index, when there is one: its rows and
            # path strings are carried where unchanged, so the tree and the first sync's diff
            # against that index hold one copy of them, not two (doit dev after a push).
            previous = self.index.load()
            if previous is not None:
                children = children_of(previous)
        snapshot = self.index.scan(previous=previous, children=children)
        self.snapshot, self._children = snapshot, None
        if self.journal is not None:
            self.journal.tree_scanned(snapshot, None)
        return snapshot

    def update(self, changed: Iterable[str] | None) -> Snapshot:
        """The tree after ``changed`` (relative POSIX paths) moved; None: not known, a full
        scan. Falls back to the full scan whenever :func:`rescan` would."""
        if changed is None or self.snapshot is None:
            return self.scan()
        changed = list(changed)
        if self.journal is not None:
            self.journal.tree_scanning()
        step = self._from_commit()
        snapshot = step.run(step.named.union(changed)) if step is not None else None
        if step is None or snapshot is None:
            if self._children is None:
                self._children = children_of(self.snapshot)
            step = _Rescan(self.index, self.snapshot, self._children)
            snapshot = step.run(changed)
        if snapshot is None:
            return self.scan()
        self.snapshot, self._children = snapshot, step.children
        if self.journal is not None:
            self.journal.tree_scanned(snapshot, step.children)
        return snapshot

    def _from_commit(self) -> _Rescan | None:
        """A rescan from the snapshot the syncs last committed, when it is new to this tree
        and the journal knows what changed since its scan began (these paths included): the
        tree then holds the committed rows themselves, not rows of its own beside them."""
        found = self.journal.commit_point() if self.journal is not None else None
        if found is None or found[0] is self._rebased():
            return None
        committed, children, named = found
        self._rebased = weakref.ref(committed)
        step = _Rescan(self.index, committed, children)
        step.named = named
        return step

    def digest(self) -> str:
        """Equal for equal trees (paths and stat data, never content digests)."""
        if self.snapshot is None:
            raise ValueError("LiveTree.digest() before the first scan")
        return self.snapshot.digest()


class Journal:
    """The paths a watcher named since the index's last commit, so that a sync in the same
    process rescans only them (doit dev's controller, beside its client's watcher).

    Set as :attr:`FileIndex.journal` only by something that notes EVERY change under the root
    (doit dev's client: each batch's paths, None when it lost track); a journal nobody feeds
    would hide edits. The paths are kept from the scan a commit wrote: a sync that failed
    before committing rescans them again, and paths noted while a sync ran stay for the next.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: Noted since the committed snapshot's scan began; None: not known (a full scan).
        self._since_commit: set[str] | None = None
        #: Noted since the last scan through :meth:`scan` began, and that scan's snapshot.
        self._since_scan: set[str] | None = None
        self._scanned: weakref.ReferenceType[Snapshot] | None = None
        self._committed: weakref.ReferenceType[Snapshot] | None = None
        #: :func:`children_of` the snapshot it names (the last rescan's, or the last built).
        self._children: tuple[weakref.ReferenceType[Snapshot], Children] | None = None
        #: The client's tree (:class:`LiveTree`), its map (None: not built), what was noted
        #: since its scan began, and since the scan under way began (None: none is).
        self._tree: weakref.ReferenceType[Snapshot] | None = None
        self._tree_children: Children | None = None
        self._since_tree: set[str] | None = None
        self._since_next_tree: set[str] | None = None

    def note(self, paths: Iterable[str] | None) -> None:
        """Relative POSIX paths a watcher named; None when it cannot say what changed."""
        with self._lock:
            if paths is None:
                self._since_commit = self._since_scan = self._since_tree = None
                self._since_next_tree = None
                return
            paths = list(paths)
            for known in (
                self._since_commit,
                self._since_scan,
                self._since_tree,
                self._since_next_tree,
            ):
                if known is not None:
                    known.update(paths)

    def commit_point(self) -> tuple[Snapshot, Children, set[str]] | None:
        """The committed snapshot, its map and what was noted since its scan began, when
        all three are known (the client's tree can then be rescanned from it)."""
        with self._lock:
            committed = self._committed() if self._committed is not None else None
            mapped = self._children
            if committed is None or self._since_commit is None or mapped is None:
                return None
            if mapped[0]() is not committed:
                return None
            return committed, mapped[1], set(self._since_commit)

    def tree_scanning(self) -> None:
        """The client's :class:`LiveTree` starts a scan (after noting the paths it is for)."""
        with self._lock:
            self._since_next_tree = set()

    def tree_scanned(self, snapshot: Snapshot, children: Children | None) -> None:
        """... and made ``snapshot`` (``children``: its map, never changed in place)."""
        with self._lock:
            self._tree, self._tree_children = weakref.ref(snapshot), children
            self._since_tree, self._since_next_tree = self._since_next_tree, None

    def scan(self, index: FileIndex, previous: Snapshot | None) -> Snapshot:
        """``index.scan(previous=previous)``: from the noted paths when ``previous`` is the
        snapshot last committed; else from the client's tree and the paths noted since it
        (the first sync of a session: its rows and paths are the client's, not a second
        copy of the tree); else a full scan."""
        with self._lock:
            known = self._since_commit
            committed = self._committed() if self._committed is not None else None
            named = set(known) if known is not None and previous is committed else None
            tree = self._tree() if self._tree is not None else None
            since_tree = set(self._since_tree) if self._since_tree is not None else None
            tree_children = self._tree_children
            self._since_scan = set()
        snapshot = None
        if named is not None and previous is not None:
            snapshot = self._rescan(index, previous, self._children_of(previous), named)
        if snapshot is None and tree is not None and since_tree is not None:
            children = tree_children if tree_children is not None else children_of(tree)
            snapshot = self._rescan(index, tree, children, since_tree)
        if snapshot is None and previous is None and tree is not None:
            # What changed since the client's tree is not known (its watch was just
            # installed): a full walk all the same, but from that tree, sharing its rows and
            # path strings instead of making a second copy of them.
            children = tree_children if tree_children is not None else children_of(tree)
            snapshot = index.scan(previous=tree, children=children)
        if snapshot is None:
            snapshot = index.scan(previous=previous)
        with self._lock:
            self._scanned = weakref.ref(snapshot)
        return snapshot

    def _rescan(
        self, index: FileIndex, previous: Snapshot, children: Children, named: set[str]
    ) -> Snapshot | None:
        step = _Rescan(index, previous, children)
        snapshot = step.run(named)
        if snapshot is not None and step.children is not None:
            with self._lock:
                self._children = (weakref.ref(snapshot), step.children)
        return snapshot

    def committed(self, snapshot: Snapshot) -> None:
        """:meth:`FileIndex.commit` wrote ``snapshot``: what was noted since its scan began is
        what changed since (unknown for a snapshot that did not come from :meth:`scan`)."""
        with self._lock:
            scanned = self._scanned() if self._scanned is not None else None
            self._since_commit = self._since_scan if scanned is snapshot else None
            self._committed = weakref.ref(snapshot)

    def _children_of(self, snapshot: Snapshot) -> Children:
        if self._children is not None and self._children[0]() is snapshot:
            return self._children[1]
        children = children_of(snapshot)
        self._children = (weakref.ref(snapshot), children)
        return children


def _nothing() -> None:
    return None


def children_of(snapshot: Snapshot) -> Children:
    """Each directory's rows in ``snapshot`` (one pass over every path)."""
    children: Children = {}
    for path in snapshot._entries:
        children.setdefault(path.rpartition("/")[0], []).append(path)
    return children


class _Rescan:
    """One rescan: the walk of the named paths' directories, then the merge into a copy of the
    previous rows. ``children`` (the previous snapshot's, see :func:`children_of`) is replaced
    by a map describing the new snapshot: a shallow copy, changed only where the rescan
    listed, so the one given stays intact (it may be shared between threads: doit dev's
    client hands its map to the controller's syncs). ``removed`` and ``found`` say which rows
    went and came."""

    def __init__(self, index: FileIndex, previous: Snapshot | None, children: Children | None):
        self.index, self.previous, self.children = index, previous, children
        #: What to run it with, when its maker says (:meth:`LiveTree._from_commit`).
        self.named: set[str] = set()
        self.removed: list[str] = []
        self.found: dict[str, Entry] = {}

    def run(self, changed: Iterable[str]) -> Snapshot | None:
        """The new snapshot, or None when only a full scan can be exact."""
        previous, named = self.previous, set(changed)
        if previous is None or not previous.walked or len(named) > MAX_PATHS:
            return None
        old = previous._entries
        racy_from = previous.scanned_at_ns - RACY_WINDOW_NS
        named.update(p for p in previous._suspects if p in old and old[p][2] >= racy_from)
        return self.run_exact(named)

    def run_exact(self, named: set[str], relist: Iterable[str] = ()) -> Snapshot | None:
        """:meth:`run` for a caller that names every path to look at again, the previous
        snapshot's racy rows included (:mod:`.refresh`, from a loaded index); ``relist``:
        directories (``""``, the root) whose names may have changed, listed but not walked
        whole. None when only a full scan can be exact."""
        previous, relist = self.previous, set(relist)
        if (
            previous is None
            or self.children is None
            or previous.rules_key != self.index.rules_key
            or len(named) + len(relist) > MAX_PATHS
            or any(p in ("", ".") or p.rpartition("/")[2] in IGNORE_FILES for p in named)
        ):
            return None
        old = previous._entries
        walk = _Walk(self.index, previous)
        walk.descend = named
        seeds = _seeds(os.fspath(self.index.root), old, named) | relist
        walk.walk([(d, _matchers(walk, previous, d), True) for d in sorted(seeds)])
        if not all(_restat_dir(walk, old, d) for d in seeds):
            return None  # a directory vanished meanwhile: start over
        return self._merge(walk, previous)

    def _merge(self, walk: _Walk, previous: Snapshot) -> Snapshot:
        """The previous rows outside the listed directories, and the walk's rows."""
        old, found, listed = previous._entries, walk.entries, walk.listed
        assert self.children is not None
        # Dict-level changes only below (pops, new lists for the listed directories, appended
        # to): a shallow copy keeps the given map whole.
        children = self.children = dict(self.children)
        dropped = [p for d in listed for p in children.get(d, ())]
        gone = [p for p in dropped if old[p][0] == "dir" and found.get(p, ("",))[0] != "dir"]
        went = set(gone)
        while gone:  # whole subtrees of the directories that went
            below = children.pop(gone.pop(), [])
            dropped += below
            more = [p for p in below if old[p][0] == "dir"]
            gone += more
            went.update(more)
        entries = dict(old)  # one C-level copy: the previous snapshot stays as it was
        for path in dropped:
            if path not in found:  # a path found again keeps its string (update keeps keys)
                entries.pop(path, None)
        entries.update(found)
        for d in listed:
            children[d] = []
        strings = {path: path for path in dropped}  # the rows' own path strings: kept
        for path in found:
            parent = path.rpartition("/")[0]
            if parent in listed:
                children[parent].append(strings.get(path, path))
        dropped_set = set(dropped)
        self.removed = dropped + [p for p in found if p in old and p not in dropped_set]
        self.found = found
        ignores = dict(previous.ignores)
        for d in listed | went:
            ignores.pop(d, None)
        ignores.update(walk.ignores)
        snapshot = walk.snapshot(entries, ignores, list(dict.fromkeys(walk.suspects)))
        if walk.root_mtime is None:  # the root was not listed: its listing is the previous
            snapshot.root_mtime_ns = previous.root_mtime_ns
        snapshot._gone = [p for p in dropped if p not in entries]
        if previous._sum is not None:  # the digest from the rows that went and came
            went_out = ((p, old[p]) for p in self.removed if found.get(p) is not old[p])
            came = ((p, e) for p, e in found.items() if old.get(p) is not e)
            change = sum(map(_row_hash, came)) - sum(map(_row_hash, went_out))
            snapshot._sum = (previous._sum + change) % _MOD
        return snapshot


def _seeds(root: str, old: dict[str, Entry], named: set[str]) -> set[str]:
    """For each named path, the nearest directory above it that the previous scan indexed and
    that is a directory still (the root at the last)."""
    seeds: set[str] = set()
    for path in named:
        parent = path.rpartition("/")[0]
        while parent and parent not in seeds and not _still_dir(root, old, parent):
            parent = parent.rpartition("/")[0]
        seeds.add(parent)
    return seeds


def _still_dir(root: str, old: dict[str, Entry], rel: str) -> bool:
    before = old.get(rel)
    if before is None or before[0] != "dir":
        return False
    try:
        return stat.S_ISDIR(os.lstat(os.path.join(root, rel)).st_mode)
    except OSError:
        return False


def _matchers(walk: _Walk, previous: Snapshot, rel_dir: str) -> _Matchers:
    """The matchers a full walk would carry into ``rel_dir``: its parents' ignore files (the
    walk reads ``rel_dir``'s own)."""
    matchers = walk.base_matchers()
    parts = rel_dir.split("/") if rel_dir else []
    for depth in range(len(parts)):
        parent = "/".join(parts[:depth])
        text = previous.ignores.get(parent)
        if text is not None:
            prefix = parent + "/" if parent else ""
            matchers = (*matchers, (prefix, walk.index._rules_for(text)))
    return matchers


def _restat_dir(walk: _Walk, old: dict[str, Entry], rel: str) -> bool:
    """A listed directory's own row (its mtime moved with the names in it), as a full walk of
    its parent would make it; the parent is not listed, so nothing else does."""
    if not rel or rel in walk.entries or rel.rpartition("/")[0] in walk.listed:
        return True  # the root has no row; a listed parent made this one (or dropped it)
    try:
        st = os.lstat(os.path.join(walk.index.root, rel))
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode):
        return False
    before = old[rel]
    now = Entry("dir", 0, st.st_mtime_ns, st.st_mode & 0o7777)
    if before[1:4] == now[1:4] and before[2] < walk.racy_from:
        walk.entries[rel] = before
        return True
    walk.entries[rel] = now
    walk.suspects.append(rel)
    return True
