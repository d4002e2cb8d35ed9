"""The file indexer: what changed in a component's source tree since the last successful push.

``odo push`` only sends what changed (seed 000, "Indexing files"). This module walks the tree,
compares it with the index of the last push that reached the container, and reports created,
modified, deleted and renamed paths. The copy step (:mod:`pyodo_tasks.core.tarball`) sends exactly
those, and the index is committed only after the copy succeeded, so a failed copy re-sends.

Rules, and why:

* Ignore files follow git exactly (via :class:`pathspec.GitIgnoreSpec`): ``.gitignore`` and
  ``.pyodoignore`` in any directory apply to that directory's subtree, with paths relative to it;
  deeper files win over shallower ones; within a directory ``.pyodoignore`` comes after
  ``.gitignore`` so it can override it (e.g. ``!dist/`` to send a build output git ignores).
  Ignored directories are not entered, which is both fast and git's rule that a file inside an
  ignored directory cannot be re-included. ``.git`` and ``.pyodo`` are always skipped. Extra
  patterns (devfile, options) apply from the root with the lowest precedence, like
  ``.git/info/exclude``.
* Symlinks are recorded as links (their target string) and never followed, not even into
  directories: sending a link's target could leak files from outside the tree.
* Directories are entries too, so an empty ``mkdir`` reaches the container and a removed
  directory is removed with one ``rm -rf``.
* size, mtime_ns and mode decide. A content digest is only used where they cannot: a file with
  the same size but another mtime (a ``touch``, a ``git checkout`` of the same content), a file
  written so close to the last scan that its mtime cannot be trusted ("racy", as in git), and
  rename candidates. Digests come for free from :func:`pyodo_tasks.core.tarball.build_tar`, which
  hashes the bytes it sends and records them in the snapshot; unchanged files carry their digest
  forward. A file with no known digest is reported modified when in doubt: re-sending costs a
  little, losing an edit costs a lot.

Index file format (``<state_dir>/index.json``, or ``index-<key>.json`` per target)::

    {"version": 3, "log": "<id of this file>", "scanned_at_ns": 1700000000000000000,
     "committed_at_ns": 1700000001000000000,
     "rules": "<digest of the index's ignore settings>", "ignores": {"": "<root .gitignore>"},
     "paths":       ["bin/run",          "src/app.py", "static"],
     "kind":        ["link",             "file",       "dir"],
     "size":        [0,                  size,         0],
     "mtime_ns":    [mtime_ns,           mtime_ns,     mtime_ns],
     "mode":        [511,                420,          493],
     "digest":      [null,               digest|null,  null],
     "link_target": ["../scripts/run",   null,         null]}

``committed_at_ns`` is when :meth:`FileIndex.commit` wrote it (the last sync). Columns rather
than a row per path: a 100k-path index parses four times faster (few containers), is checked
with one C loop per column, and its rows are made by ``zip``.

Beside it, ``index.log`` (``index-<key>.log``): the commits since, one record each
(:mod:`pyodo_tasks.core.recordlog`: checksummed, naming the file's ``log`` id), holding the
header fields, the changed rows in the same columns, the ``deleted`` paths and the ignore
texts that changed (``ignores``, ``unignored``). A commit appends a record when it knows what
changed since the committed snapshot (doit dev's syncs: an edit costs its rows, not a
rewrite of a 1M-path file), and writes the file whole otherwise or once the log outgrows
:data:`LOG_LIMIT` of it. Version 2 files (no log) are read as unusable: one full index.
"""

from __future__ import annotations

import hashlib
import json
import logging
import operator
import os
import re
import stat
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pathspec import GitIgnoreSpec

from pyodo_tasks.core.indexfiles import IndexFiles
from pyodo_tasks.core.snapshot import (
    FORMAT_VERSION,
    RACY_WINDOW_NS,
    Entry,
    Snapshot,
)
from pyodo_tasks.errors import SyncError

if TYPE_CHECKING:
    from pyodo_tasks.core.rescan import Journal

__all__ = [
    "FORMAT_VERSION",
    "Changes",
    "Entry",
    "Explanation",
    "FileIndex",
    "IgnoreRule",
    "Snapshot",
    "hash_file",
]

log = logging.getLogger(__name__)

#: Names never indexed at any depth: git's own data and pyodo's state.
ALWAYS_SKIP = frozenset({".git", ".pyodo"})
#: doit's database files at any depth (``.doit.db``, ``.doit.db.dat``, ``.doit.db-journal``…):
#: written by every doit run in the directory, never part of the app — sending them would
#: make each push change what the next one sends.
DOIT_DB = re.compile(r"^\.doit\.db([.-].*)?$")
#: Names what the scan's fixed rules are; change it when they change (ALWAYS_SKIP, DOIT_DB…),
#: so an index scanned under the old ones is matched afresh.
_SCAN_RULES = "scan-1"
#: Read in this order in each directory; later files override earlier ones.
IGNORE_FILES = (".gitignore", ".pyodoignore")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Changes:
    """What a push has to do. Apply :meth:`to_delete` first, then extract :meth:`to_send`.

    Order matters because a path whose kind changed (file -> directory, say) is in both.
    ``full`` means there was no usable index: everything is "created", and the container may
    hold leftovers from an earlier push that nothing here can name; a caller may clear the
    target first. ``touched`` lists files whose stat changed but whose content was verified
    unchanged by digest; they need no copy, only a commit so they are not hashed again.
    ``recommit`` says the same for an index scanned under other ignore settings (or written by
    an older pyodo): committing it again lets the next scan skip matching.
    """

    created: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()
    full: bool = False
    touched: tuple[str, ...] = field(default=(), compare=False)
    recommit: bool = field(default=False, compare=False)

    def __bool__(self) -> bool:
        """True when the container needs anything sent or deleted."""
        return bool(self.created or self.modified or self.deleted or self.renamed)

    @property
    def commit_due(self) -> bool:
        """True when the index should be committed even if nothing is sent (see above)."""
        return bool(self.touched) or self.recommit

    def to_send(self) -> tuple[str, ...]:
        """Paths to put in the tar: created, modified and rename targets, parents first."""
        created = self.created
        if not self.modified and not self.renamed and all(map(operator.lt, created, created[1:])):
            return created  # a first sync (sorted by the diff): no set of every path
        return tuple(sorted({*self.created, *self.modified, *(new for _, new in self.renamed)}))

    def to_delete(self) -> tuple[str, ...]:
        """Paths to remove: deleted and rename sources, without those under a removed dir."""
        paths = sorted({*self.deleted, *(old for old, _ in self.renamed)})
        kept: list[str] = []
        for path in paths:  # sorted, so a directory comes right before its contents
            if not (kept and path.startswith(kept[-1] + "/")):
                kept.append(path)
        return tuple(kept)

    def summary(self) -> str:
        """One line for logs, e.g. ``2 created, 1 modified, 0 deleted, 1 renamed``."""
        text = (
            f"{len(self.created)} created, {len(self.modified)} modified, "
            f"{len(self.deleted)} deleted, {len(self.renamed)} renamed"
        )
        return text + (" (full index)" if self.full else "")


@dataclass(frozen=True)
class IgnoreRule:
    """What decided whether a path is indexed: a line of an ignore file, or a fixed rule.

    ``source`` is the ignore file relative to the root (``.gitignore``, ``web/.pyodoignore``),
    ``extra patterns`` for the index's own (devfile, options), or ``fixed rule``; ``line`` is
    1-based in ``source`` (None for a fixed rule); ``pattern`` is the line as written, or what
    the fixed rule says.
    """

    source: str
    line: int | None
    pattern: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.pattern}"


@dataclass(frozen=True)
class Explanation:
    """Whether a scan indexes ``path``, and why (:meth:`FileIndex.explain`).

    ``rule`` decided: a pattern that ignores it, a negation that re-includes it, a fixed rule;
    None when no rule matches (indexed, the default). ``under`` names the ignored directory the
    path lies in (``rule`` is that directory's): git's rule, a file in an ignored directory
    cannot be re-included.
    """

    path: str
    ignored: bool
    rule: IgnoreRule | None = None
    under: str | None = None


def hash_file(path: str | os.PathLike[str], expect: Entry | None = None) -> str | None:
    """Streamed blake2b-128 of a regular file, or ``None`` when it cannot be trusted.

    ``None`` when the file is unreadable, is not a regular file (any more), changed while
    being read, or no longer has ``expect``'s size and mtime: a digest must describe the
    same version as the stat data stored next to it. Links are not followed.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        log.debug("cannot hash %s: %s", path, exc)
        return None
    with os.fdopen(fd, "rb") as f:
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                return None
            h = hashlib.blake2b(digest_size=16)
            while chunk := f.read(_CHUNK):
                h.update(chunk)
            after = os.fstat(fd)
        except OSError as exc:
            log.debug("cannot hash %s: %s", path, exc)
            return None
    seen = (before.st_size, before.st_mtime_ns)
    if seen != (after.st_size, after.st_mtime_ns):
        return None
    if expect is not None and seen != (expect.size, expect.mtime_ns):
        return None
    return h.hexdigest()


class _Rules:
    """One directory's ignore patterns, with a quick "does any pattern match at all?" test.

    Most paths match no pattern. ``GitIgnoreSpec`` tries each pattern in turn; one search of
    the union of the patterns' regexes answers the common case in a single step, and only a
    path that matches something goes through the spec for git's exact verdict.
    """

    __slots__ = ("any", "spec")

    def __init__(self, lines: Sequence[str]) -> None:
        self.spec = GitIgnoreSpec.from_lines(lines)
        self.any = _union(self.spec)

    def decide(self, path: str) -> bool | None:
        """True: ignored; False: re-included by a negation; None: no pattern matches."""
        found = self.check(path)
        return None if found is None else found[0]

    def check(self, path: str) -> tuple[bool, int] | None:
        """:meth:`decide`, with the deciding pattern's position in ``spec.patterns``."""
        if self.any is not None and self.any.search(path) is None:
            return None
        result = self.spec.check_file(path)
        if result.include is None or result.index is None:
            return None
        return result.include, result.index


def _union(spec: GitIgnoreSpec) -> re.Pattern[str] | None:
    """One regex matching whatever any of ``spec``'s patterns matches, or None (no shortcut).

    Named groups become plain groups (names would clash); that changes what is captured,
    never what matches, so the union is exact as a filter.
    """
    found = [p.regex for p in spec.patterns if p.include is not None]
    regexes = [r for r in found if r is not None and isinstance(r.pattern, str)]
    if not regexes or len(regexes) != len(found):
        return None
    flags = regexes[0].flags
    if any(r.flags != flags for r in regexes):
        return None
    parts = (re.sub(r"\(\?P<\w+>", "(?:", r.pattern) for r in regexes)
    try:
        return re.compile("|".join(f"(?:{part})" for part in parts), flags)
    except re.error:
        return None


_Matchers = tuple[tuple[str, _Rules], ...]  # (directory prefix, its rules), root first


def _recommit(old: Snapshot, new: Snapshot) -> bool:
    """Whether ``new`` should be committed though nothing moved: it was scanned under other
    rules; or not from ``old`` (doit dev's first sync rescans the client's tree: committed
    then, while it starts, each edit's commit appends to the log, where the first edit's
    would write the whole index, seconds on 1M paths); or the root's mtime, racy in ``old``
    (so listed again by every refresh), is not racy any more in ``new`` (committed, the next
    refresh trusts it)."""
    if old.rules_key != new.rules_key or new._base is None or new._base() is not old:
        return True
    before, now = old.root_mtime_ns, new.root_mtime_ns
    return (
        before is not None
        and before == now
        and before >= old.scanned_at_ns - RACY_WINDOW_NS
        and now < new.scanned_at_ns - RACY_WINDOW_NS
    )


class FileIndex:
    """Scan, diff and persist the index of one component's source tree for one target."""

    def __init__(
        self,
        root: Path,
        *,
        state_dir: Path | None = None,
        key: str | None = None,
        extra_ignores: Sequence[str] = (),
        exclude: Iterable[Path] = (),
    ) -> None:
        """``key`` names a separate index (``index-<key>.json``), e.g. one per cluster and
        namespace, so pushing to two targets does not make either forget what the other has.
        ``exclude`` names files never indexed, whatever the ignore files say (e.g. the log
        ``doit dev`` writes its own output to); those outside the tree are ignored."""
        self.root = Path(root)
        self.state_dir = Path(state_dir) if state_dir is not None else self.root / ".pyodo"
        name = "index" if key is None else f"index-{_safe_key(key)}"
        self.index_path = self.state_dir / f"{name}.json"
        #: The full index file and the log of the commits since (:mod:`.indexfiles`); it keeps
        #: the snapshot last loaded or committed, handed back while the files are unchanged,
        #: so a process that syncs again and again (doit dev) parses them once.
        self.files = IndexFiles(self.index_path, self.state_dir / f"{name}.log")
        self._extra = _Rules(list(extra_ignores)) if extra_ignores else None
        self._extra_lines = tuple(extra_ignores)
        self._skip_rel = _relative_inside(self.state_dir, self.root)
        inside = (_relative_inside(Path(p), self.root) for p in exclude)
        self._exclude: set[str] = {rel for rel in inside if rel is not None}
        #: What, besides the ignore files, decides which paths a scan includes.
        settings = [_SCAN_RULES, list(extra_ignores), self._skip_rel, sorted(self._exclude)]
        self.rules_key = hashlib.blake2b(
            json.dumps(settings).encode("utf-8", "surrogateescape"), digest_size=16
        ).hexdigest()
        #: Compiled ignore files by text: the dev loop scans again after every save.
        self._rules: dict[str, _Rules] = {}
        #: One int object per permission mode its scans found (a handful): each row refers
        #: to it instead of holding a 28-byte int of its own (100k rows: 2.7 MiB a snapshot).
        self._modes: dict[int, int] = {}
        #: Set by what notes every change under the root (doit dev's client): syncs in this
        #: process then rescan only those paths (:class:`.rescan.Journal`).
        self.journal: Journal | None = None

    def _rules_for(self, text: str) -> _Rules:
        rules = self._rules.get(text)
        if rules is None:
            rules = self._rules[text] = _Rules(text.splitlines())
        return rules

    # -- scanning ---------------------------------------------------------------------------

    def scan(
        self, previous: Snapshot | None = None, *, children: Mapping[str, list[str]] | None = None
    ) -> Snapshot:
        """Walk the tree now. Content is not read here (see the module docstring).

        ``previous`` (the last committed snapshot, or the last scan) makes re-scanning a mostly
        unchanged tree cheap: under ignore rules equal to the ones it was scanned with, a path
        it holds needs no matching, and an entry whose stat is unchanged (and not racy) is
        carried over as the same object, which :meth:`diff` then skips without a look.
        ``children`` (``previous``'s paths by directory, :func:`.rescan.children_of`) makes
        the new snapshot hold ``previous``'s path strings rather than new ones (doit dev's
        client: its snapshots and the syncs' share them).
        """
        walk = _Walk(self, previous)
        walk.children = children
        return walk.run()

    def explain(self, path: str, is_dir: bool | None = None) -> Explanation:
        """Whether a scan indexes ``path`` (relative, POSIX) and which rule decides: the scan's
        fixed rules, ignore files and matchers, read now. ``is_dir``: what is on disk by
        default (a missing path counts as a file)."""
        if is_dir is None:
            try:
                is_dir = stat.S_ISDIR(os.lstat(self.root / path).st_mode)
            except OSError:
                is_dir = False
        return _explain(self, path, is_dir)

    # -- persistence ------------------------------------------------------------------------

    def load(self) -> Snapshot | None:
        """The last committed snapshot; ``None`` when absent, corrupt or another version
        (:meth:`.indexfiles.IndexFiles.load`: the full index file, then its log)."""
        return self.files.load()

    def commit(self, snapshot: Snapshot) -> None:
        """Persist ``snapshot`` atomically. Call only after the copy succeeded, so that a failed
        or interrupted copy leaves the old index and the next push re-sends the same files.

        When ``snapshot`` was scanned from the one the files hold (doit dev's syncs), only its
        changed rows are appended to the log (:meth:`.indexfiles.IndexFiles.commit`)."""
        created = not self.state_dir.exists()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if created:  # keep pyodo's state out of the user's commits
            (self.state_dir / ".gitignore").write_text("*\n", encoding="utf-8")
        snapshot.committed_at_ns = time.time_ns()  # when it was last synced: `doit why`
        self.files.commit(snapshot, cache=self.journal is None)  # doit dev: see there
        _unlink_base(snapshot)
        if self.journal is not None:
            self.journal.committed(snapshot)

    def forget(self) -> None:
        """Remove the index's files (the component was deleted)."""
        self.files.forget()

    @property
    def log_path(self) -> Path:
        return self.files.log_path

    # -- diffing ----------------------------------------------------------------------------

    def diff(self, old: Snapshot | None, new: Snapshot) -> Changes:
        """Compare two snapshots. Records into ``new`` the digests carried over from ``old`` or
        computed here, so that committing ``new`` keeps them.

        When ``new`` was scanned with ``old`` as its ``previous``, only the paths the scan could
        not carry over are looked at (on an unchanged tree: none)."""
        if old is None:
            return Changes(created=tuple(sorted(new)), full=True)
        if new._base is not None and new._base() is old and not new._suspects and new._gone == []:
            # A rescan that found nothing (e.g. a push's refresh, :mod:`.refresh`): no row
            # looked at, none gone, so none is read (a loaded index's rows are not even made).
            return Changes(recommit=_recommit(old, new))
        created: list[str] = []
        modified: list[str] = []
        touched: list[str] = []
        # The plain dicts, not the Mapping API: this loop runs once per file on every scan.
        old_entries, new_entries = old._entries, new._entries
        if new._base is not None and new._base() is old:
            looked_at: Iterable[str] = new._suspects
            carried = len(new_entries) - len(new._suspects)
            if carried + sum(p in old_entries for p in new._suspects) == len(old_entries):
                deleted = []  # every old path is still there
            else:
                deleted = [p for p in old_entries if p not in new_entries]
        else:
            looked_at = new_entries
            deleted = [p for p in old_entries if p not in new_entries]
        racy_from = old.scanned_at_ns - RACY_WINDOW_NS
        for path in looked_at:
            now = new_entries[path]
            before = old_entries.get(path)
            if before is None:
                created.append(path)
                continue
            if type(before) is not Entry:  # a row as loaded (see Snapshot)
                before = Entry._make(before)
            if type(now) is not Entry:
                now = Entry._make(now)
            if before[:4] == now[:4] and before[5] == now[5] and before[2] < racy_from:
                new_entries[path] = before  # the common case: unchanged, keep its digest
            elif before.kind != now.kind:  # e.g. file -> dir: remove, then send afresh
                deleted.append(path)
                created.append(path)
            else:
                verdict = self._compare(path, before, now, old.is_racy(before), new)
                if verdict == "modified":
                    modified.append(path)
                elif verdict == "touched":
                    touched.append(path)
        renamed = self._pair_renames(old, new, deleted, created)
        return Changes(
            created=tuple(sorted(created)),
            modified=tuple(sorted(modified)),
            deleted=tuple(sorted(deleted)),
            renamed=tuple(sorted(renamed)),
            full=False,
            touched=tuple(sorted(touched)),
            recommit=_recommit(old, new),
        )

    def changes(
        self, scan: Callable[[FileIndex, Snapshot | None], Snapshot] | None = None
    ) -> tuple[Changes, Snapshot]:
        """Load, scan and diff. When nothing needs copying but the index should still be
        written (files only touched, or older rules), commits right away: the container is
        already current, and this spares re-hashing and re-matching. ``scan``: how to scan
        from the loaded snapshot (default: a full walk); a push refreshes by stat alone
        (:func:`pyodo_tasks.core.refresh.changes`)."""
        old = self.load()
        new = self.scan(previous=old) if scan is None else scan(self, old)
        changes = self.diff(old, new)
        if old is not None and not changes and changes.commit_due:
            self.commit(new)
        return changes, new

    def _compare(
        self, path: str, before: Entry, now: Entry, racy: bool, snapshot: Snapshot
    ) -> Literal["same", "touched", "modified"]:
        if before.stale:
            return "modified"
        if now.kind == "dir":  # racy, listed again and found the same: worth a commit
            if before.mode != now.mode:
                return "modified"
            return "touched" if racy and not snapshot.is_racy(now) else "same"
        if now.kind == "link":
            return "same" if before.link_target == now.link_target else "modified"
        if before.size != now.size:
            return "modified"
        if before.mtime_ns == now.mtime_ns and not racy:
            if before.digest is not None and now.digest is None:
                snapshot.record(path, now._replace(digest=before.digest))
            return "same" if before.mode == now.mode else "modified"
        # Same size, but the mtime moved or cannot be trusted: only content can tell.
        if before.digest is None or self._digest(path, snapshot) != before.digest:
            return "modified"
        return "touched" if before.mode == now.mode else "modified"

    def _digest(self, path: str, snapshot: Snapshot) -> str | None:
        entry = snapshot[path]
        if entry.digest is None:
            digest = hash_file(os.path.join(self.root, path), expect=entry)
            if digest is not None:
                entry = entry._replace(digest=digest)
                snapshot.record(path, entry)
        return entry.digest

    def _pair_renames(
        self, old: Snapshot, new: Snapshot, deleted: list[str], created: list[str]
    ) -> list[tuple[str, str]]:
        """Pair deleted and created files with equal size and digest; removes the pairs from
        ``deleted`` and ``created``. Only files with a matching size are ever hashed."""
        gone: dict[tuple[int, str], list[str]] = {}
        for path in sorted(deleted):
            e = old[path]
            if e.kind == "file" and not e.stale and e.digest is not None:
                gone.setdefault((e.size, e.digest), []).append(path)
        sizes = {size for size, _ in gone}
        pairs: list[tuple[str, str]] = []
        for path in sorted(created):
            e = new[path]
            if e.kind != "file" or e.size not in sizes:
                continue
            digest = self._digest(path, new)
            candidates = gone.get((e.size, digest)) if digest is not None else None
            if not candidates:
                continue
            name = path.rsplit("/", 1)[-1]  # prefer a same-named source (a moved file)
            source = next((c for c in candidates if c.rsplit("/", 1)[-1] == name), candidates[0])
            candidates.remove(source)
            pairs.append((source, path))
        for source, target in pairs:
            deleted.remove(source)
            created.remove(target)
        return pairs


def _unlink_base(snapshot: Snapshot) -> None:
    """A committed snapshot, kept for the next load(), loses its link to the scan it came from
    (which would keep every earlier snapshot alive); its suspects shrink to the entries that may
    be racy or are stale: all a rescan from it needs (:mod:`pyodo_tasks.core.rescan`)."""
    racy_from, entries = snapshot.scanned_at_ns - RACY_WINDOW_NS, snapshot._entries
    snapshot._base, snapshot._recorded, snapshot._gone = None, set(), None
    snapshot._suspects = [
        p
        for p in snapshot._suspects
        if p in entries and (entries[p][2] >= racy_from or entries[p][1] < 0)
    ]


class _Walk:
    """One scan of the tree (:meth:`FileIndex.scan`): the walk's state and its two loops.

    A directory is walked *fast* when the previous snapshot was scanned under the same rules
    (settings, and this directory's and its parents' ignore-file text): a name the previous
    snapshot holds, with the same dir/non-dir kind, was included then and is included now.
    Only the other names are matched against the ignore rules.
    """

    def __init__(self, index: FileIndex, previous: Snapshot | None) -> None:
        self.index = index
        self.started = time.time_ns()
        self.entries: dict[str, Entry] = {}
        self.ignores: dict[str, str] = {}
        usable = previous is not None and previous.rules_key == index.rules_key
        self.previous = previous if usable else None
        self.old: dict[str, Entry] = previous._entries if previous is not None and usable else {}
        self.racy_from = previous.scanned_at_ns - RACY_WINDOW_NS if previous is not None else 0
        #: Paths whose entry is not the previous snapshot's object (changed, new or racy).
        self.suspects: list[str] = []
        #: None: descend into every directory. Otherwise (a rescan of named paths,
        #: :mod:`pyodo_tasks.core.rescan`) only into these and into directories new to the walk.
        self.descend: set[str] | None = None
        #: The directories listed (a rescan replaces the previous snapshot's rows under them).
        self.listed: set[str] = set()
        #: The previous snapshot's paths by directory (:meth:`FileIndex.scan`), and the
        #: directory being listed's by name: carried rows keep their path strings.
        self.children: Mapping[str, list[str]] | None = None
        self.known: dict[str, str] | None = None
        #: The root's mtime, taken just before it was listed (None: not listed).
        self.root_mtime: int | None = None

    def base_matchers(self) -> _Matchers:
        extra = self.index._extra
        return (("", extra),) if extra is not None else ()

    def run(self) -> Snapshot:
        self.walk([("", self.base_matchers(), self.previous is not None)])
        return self.snapshot(self.entries, self.ignores, self.suspects)

    def snapshot(
        self, entries: dict[str, Entry], ignores: dict[str, str], suspects: list[str]
    ) -> Snapshot:
        snapshot = Snapshot(scanned_at_ns=self.started, rules_key=self.index.rules_key)
        snapshot.ignores, snapshot._entries, snapshot._suspects = ignores, entries, suspects
        snapshot._base = weakref.ref(self.previous) if self.previous is not None else None
        snapshot.walked = True
        snapshot.root_mtime_ns = self.root_mtime
        return snapshot

    def walk(self, pending: list[tuple[str, _Matchers, bool]]) -> None:
        """List each pending directory and what it leads to (all of it, unless ``descend``)."""
        while pending:
            rel_dir, matchers, fast = pending.pop()
            if rel_dir in self.listed:
                continue  # a rescan's seed that another seed's walk reached
            listed = self._list(rel_dir)
            if listed is None:
                continue
            abs_dir, items = listed
            prefix = rel_dir + "/" if rel_dir else ""
            text = _read_ignores(abs_dir, {item.name for item in items})
            if text is not None:
                self.ignores[rel_dir] = text
                matchers = (*matchers, (prefix, self.index._rules_for(text)))
            if fast and self.previous is not None:
                fast = self.previous.ignores.get(rel_dir) == text
            self.listed.add(rel_dir)
            if fast:
                self.known = self._known(rel_dir)
                self._fast(items, prefix, matchers, pending)
            else:
                self._slow(items, prefix, matchers, pending)

    def _known(self, rel_dir: str) -> dict[str, str] | None:
        """Name -> the previous snapshot's path string, for ``rel_dir`` (see ``children``)."""
        if self.children is None:
            return None
        return {path.rpartition("/")[2]: path for path in self.children.get(rel_dir, ())}

    def _list(self, rel_dir: str) -> tuple[str, list[os.DirEntry[str]]] | None:
        root = os.fspath(self.index.root)
        abs_dir = os.path.join(root, rel_dir) if rel_dir else root
        try:
            if not rel_dir:  # before listing: a name added meanwhile moves it past this
                self.root_mtime = os.stat(abs_dir).st_mtime_ns
            with os.scandir(abs_dir) as it:
                return abs_dir, list(it)
        except OSError as exc:  # vanished or unreadable: report it, keep the rest
            if not rel_dir:
                raise SyncError(f"{root}: cannot read the source directory: {exc}") from exc
            log.warning("skipping unreadable directory %s: %s", abs_dir, exc)
            return None

    def _fast(
        self,
        items: list[os.DirEntry[str]],
        prefix: str,
        matchers: _Matchers,
        pending: list[tuple[str, _Matchers, bool]],
    ) -> None:
        """Names the previous snapshot holds: compare stat, carry the entry over when equal."""
        entries, suspects, old_get = self.entries, self.suspects, self.old.get
        racy_from, modes, known = self.racy_from, self.index._modes.setdefault, self.known
        slow: list[os.DirEntry[str]] = []
        for item in items:  # once per file per scan: every attribute read here counts
            rel = prefix + item.name
            if known is not None:  # the previous snapshot's string for it
                rel = known.get(item.name, rel)
            before = old_get(rel)
            if before is None:
                slow.append(item)
                continue
            try:
                st = item.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            fmt = st.st_mode & 0o170000
            if fmt == 0o100000 and before[0] != "dir":
                if (
                    before[2] == st.st_mtime_ns
                    and before[1] == st.st_size
                    and before[3] == st.st_mode & 0o7777
                    and before[0] == "file"
                    and (before[2] < racy_from or before[4] is None)
                ):
                    # The same row object (a racy one is still a suspect: the diff reads its
                    # content; one with a digest is not reused then, or the diff would trust it).
                    entries[rel] = before
                    if before[2] < racy_from:
                        continue
                else:
                    mode = modes(m := st.st_mode & 0o7777, m)
                    entries[rel] = Entry("file", st.st_size, st.st_mtime_ns, mode)
            elif fmt == 0o040000 and before[0] == "dir":
                if self._dir(rel, prefix, before, st, matchers, pending):
                    continue
            else:  # a link, a kind change, a special file: the full rules
                slow.append(item)
                continue
            suspects.append(rel)
        if slow:
            self._slow(slow, prefix, matchers, pending)

    def _dir(
        self,
        rel: str,
        prefix: str,
        before: Entry,
        st: os.stat_result,
        matchers: _Matchers,
        pending: list[tuple[str, _Matchers, bool]],
    ) -> bool:
        """A directory the previous snapshot holds: listed when named (or its names may have
        changed: each directory row then holds an mtime it was listed at, what .refresh
        trusts); its row. True when that row is the previous one, not racy."""
        descend = self.descend
        named = descend is None or rel in descend or prefix[:-1] in descend
        if named and descend is not None:
            descend.add(rel)  # a named directory is walked whole
        racy = before[2] >= self.racy_from
        if named or before[2] != st.st_mtime_ns or racy:
            pending.append((rel, matchers, True))
        mode = st.st_mode & 0o7777
        if before[2] == st.st_mtime_ns and before[3] == mode and before[1] == 0:
            self.entries[rel] = before  # the same row object, a racy one still a suspect
            return not racy
        self.entries[rel] = Entry(
            "dir", 0, st.st_mtime_ns, self.index._modes.setdefault(mode, mode)
        )
        return False

    def _slow(
        self,
        items: list[os.DirEntry[str]],
        prefix: str,
        matchers: _Matchers,
        pending: list[tuple[str, _Matchers, bool]],
    ) -> None:
        """Names matched against the ignore rules (a first scan, new names, changed rules)."""
        index, entries, suspects = self.index, self.entries, self.suspects
        skip_rel, exclude, modes = index._skip_rel, index._exclude, index._modes.setdefault
        for item in items:
            name = item.name
            if name in ALWAYS_SKIP or DOIT_DB.match(name):
                continue
            rel = prefix + name
            if rel == skip_rel or rel in exclude:
                continue
            # _entry_for inlined for plain files and directories (nearly every entry):
            # this loop runs once per file and a call per entry was a tenth of a scan.
            try:
                st = item.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            fmt = st.st_mode & 0o170000
            if fmt == 0o100000:
                entry = Entry(
                    "file", st.st_size, st.st_mtime_ns, modes(m := st.st_mode & 0o7777, m)
                )
            elif fmt == 0o040000:
                entry = Entry("dir", 0, st.st_mtime_ns, modes(m := st.st_mode & 0o7777, m))
            else:
                found = _entry_for(item)
                if found is None:
                    continue
                entry = found
            if matchers and _ignored(rel, fmt == 0o040000, matchers):
                continue
            entries[rel] = entry
            suspects.append(rel)
            if fmt == 0o040000:
                pending.append((rel, matchers, False))


def _entry_for(item: os.DirEntry[str]) -> Entry | None:
    """Stat one directory entry without following links; ``None`` for vanished or special files."""
    try:
        st = item.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISREG(st.st_mode):
        return Entry("file", st.st_size, st.st_mtime_ns, mode)
    if stat.S_ISDIR(st.st_mode):
        return Entry("dir", 0, st.st_mtime_ns, mode)
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(item.path)
        except OSError:
            return None
        return Entry("link", 0, st.st_mtime_ns, mode, link_target=target)
    log.debug("skipping special file %s", item.path)  # sockets, FIFOs, devices
    return None


def _ignored(rel: str, is_dir: bool, matchers: _Matchers) -> bool:
    found = _deciding(rel, is_dir, matchers)
    return found is not None and found[1]


def _deciding(rel: str, is_dir: bool, matchers: _Matchers) -> tuple[int, bool, int] | None:
    """``(level in matchers, ignored?, pattern index)`` of the pattern that decides, or None.

    Git's precedence: the deepest ignore file with a matching pattern decides; within one
    file the last match wins (``GitIgnoreSpec`` also handles git's file-over-dir priority)."""
    suffix = "/" if is_dir else ""
    for level in range(len(matchers) - 1, -1, -1):
        prefix, rules = matchers[level]
        found = rules.check(rel[len(prefix) :] + suffix)
        if found is not None:
            return level, found[0], found[1]
    return None


def _explain(index: FileIndex, rel: str, is_dir: bool) -> Explanation:
    """:meth:`FileIndex.explain`: the scan's walk down to ``rel``, one directory at a time,
    with the same fixed rules, ignore files and matchers, keeping where each pattern came from."""
    root = os.fspath(index.root)
    parts = rel.split("/")
    matchers: list[tuple[str, _Rules]] = []
    origins: list[list[tuple[str, int]]] = []  # per matcher, (file, line) of each pattern
    if index._extra is not None:
        matchers.append(("", index._extra))
        origins.append(_origins([("extra patterns", list(index._extra_lines))]))
    for depth, name in enumerate(parts):
        prefix = "/".join(parts[:depth]) + "/" if depth else ""
        abs_dir = os.path.join(root, prefix) if prefix else root
        present = {n for n in IGNORE_FILES if os.path.lexists(os.path.join(abs_dir, n))}
        files = _ignore_files(abs_dir, present)
        text = "\n".join(line for _, lines in files for line in lines)
        if text:
            matchers.append((prefix, index._rules_for(text)))
            origins.append(_origins([(prefix + n, lines) for n, lines in files]))
        sub, last = prefix + name, depth == len(parts) - 1
        under = None if last else sub
        fixed = _fixed_rule(index, name, sub, last)
        if fixed is not None:
            return Explanation(rel, True, fixed, under)
        found = _deciding(sub, is_dir or not last, tuple(matchers))
        if found is not None and (found[1] or last):
            level, ignored, pattern = found
            source, line = origins[level][pattern]
            text_of = matchers[level][1].spec.patterns[pattern].pattern
            rule = IgnoreRule(source, line, str(text_of))
            return Explanation(rel, ignored, rule, under)
    return Explanation(rel, False)


def _origins(files: Sequence[tuple[str, list[str]]]) -> list[tuple[str, int]]:
    """``(file, line number)`` of each pattern ``GitIgnoreSpec.from_lines`` makes of the files'
    lines joined: one per non-empty line (comments and blanks of spaces included)."""
    return [(name, n) for name, lines in files for n, line in enumerate(lines, 1) if line]


def _fixed_rule(index: FileIndex, name: str, rel: str, last: bool) -> IgnoreRule | None:
    """The scan's rules that no ignore file can change, for ``rel`` (named ``name``)."""
    why = None
    if name in ALWAYS_SKIP:
        why = f"{name} is never sent (git's data, pyodo's state)"
    elif DOIT_DB.match(name):
        why = f"{name} is doit's database, never sent"
    elif rel == index._skip_rel:
        why = f"{rel} is pyodo's state directory"
    elif rel in index._exclude:
        why = f"{rel} is excluded by the caller (e.g. doit dev's own output)"
    elif not last and os.path.islink(os.path.join(index.root, rel)):
        why = f"{rel} is a symlink: sent as a link, never followed"
    return None if why is None else IgnoreRule("fixed rule", None, why)


def _ignore_files(directory: str, names: set[str]) -> list[tuple[str, list[str]]]:
    """``directory``'s ignore files among ``names`` with their lines, in :data:`IGNORE_FILES`
    order (an unreadable one is left out, with a warning)."""
    found: list[tuple[str, list[str]]] = []
    for name in IGNORE_FILES:
        if name not in names:
            continue
        path = os.path.join(directory, name)
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                found.append((name, f.read().splitlines()))
        except OSError as exc:  # e.g. a dangling .gitignore symlink
            log.warning("cannot read %s: %s", path, exc)
    return found


def _read_ignores(directory: str, names: set[str]) -> str | None:
    """The text of ``directory``'s ignore files, in :data:`IGNORE_FILES` order, or None."""
    lines = [line for _, file_lines in _ignore_files(directory, names) for line in file_lines]
    return "\n".join(lines) if lines else None


def _relative_inside(path: Path, root: Path) -> str | None:
    """``path`` relative to ``root`` when it lies inside it (so the scan can skip it)."""
    try:
        rel = path.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    return rel.as_posix() if rel.parts else None


def _safe_key(key: str) -> str:
    """A file-name-safe form of ``key``; distinct keys stay distinct."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", key)[:48]
    if safe != key:
        safe += "-" + hashlib.blake2b(key.encode(), digest_size=4).hexdigest()
    return safe
