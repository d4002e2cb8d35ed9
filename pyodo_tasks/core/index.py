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

    {"version": 1, "scanned_at_ns": 1700000000000000000,
     "files": {"src/app.py": ["file", size, mtime_ns, mode, digest|null, null],
               "bin/run":    ["link", 0, mtime_ns, 511, null, "../scripts/run"],
               "static":     ["dir", 0, mtime_ns, 493, null, null]}}

Entries are lists rather than objects: a 50k-file index loads about twice as fast.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pathspec import GitIgnoreSpec

from pyodo_tasks.errors import SyncError

__all__ = [
    "FORMAT_VERSION",
    "Changes",
    "Entry",
    "FileIndex",
    "Snapshot",
    "hash_file",
]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
#: Names never indexed at any depth: git's own data and pyodo's state.
ALWAYS_SKIP = frozenset({".git", ".pyodo"})
#: doit's database files at any depth (``.doit.db``, ``.doit.db.dat``, ``.doit.db-journal``…):
#: written by every doit run in the directory, never part of the app — sending them would
#: make each push change what the next one sends.
DOIT_DB = re.compile(r"^\.doit\.db([.-].*)?$")
#: Read in this order in each directory; later files override earlier ones.
IGNORE_FILES = (".gitignore", ".pyodoignore")
#: A file whose mtime is this close to (or after) the scan that recorded it may have been
#: rewritten in the same timestamp tick without changing size; it is checked by content.
#: Generous because network and VM-shared file systems have coarse or skewed clocks.
RACY_WINDOW_NS = 2_000_000_000
_CHUNK = 1 << 20
#: Absolute, empty, ``.``/``..`` segments or NUL: never a path this index wrote.
_UNSAFE_PATH = re.compile(r"^/|/$|^$|//|(^|/)\.\.?(/|$)|\x00")

Kind = Literal["file", "link", "dir"]
_KINDS = frozenset({"file", "link", "dir"})


class Entry(NamedTuple):
    """What the index knows about one path. ``mode`` holds the permission bits only.

    A named tuple rather than a dataclass: a 50k-entry index is built on every scan and load,
    and tuples are several times cheaper to create and compare.
    ``size == -1`` marks a *stale* entry: the copy could not send a consistent version (the file
    vanished or changed while being read), so the next diff must treat it as changed.
    """

    kind: Kind
    size: int
    mtime_ns: int
    mode: int
    digest: str | None = None
    link_target: str | None = None

    @property
    def stale(self) -> bool:
        return self.size < 0

    def same_stat(self, other: Entry) -> bool:
        """Equal in everything but the content digest."""
        return self[:4] == other[:4] and self.link_target == other.link_target

    @classmethod
    def from_list(cls, raw: object) -> Entry:
        """Parse one index row; ``ValueError`` on anything malformed."""
        if type(raw) is not list or len(raw) != 6:
            raise ValueError(f"entry is not a 6-item list: {raw!r}")
        kind, size, mtime_ns, mode, digest, target = raw
        if kind not in _KINDS:
            raise ValueError(f"unknown entry kind {kind!r}")
        if type(size) is not int or type(mtime_ns) is not int or type(mode) is not int:
            raise ValueError(f"size, mtime_ns and mode must be integers: {raw!r}")
        if digest is not None and type(digest) is not str:
            raise ValueError(f"digest must be a string or null: {raw!r}")
        if (type(target) is str) != (kind == "link"):
            raise ValueError(f"a link, and only a link, has a target string: {raw!r}")
        return cls._make(raw)


class Snapshot(Mapping[str, Entry]):
    """The indexed tree at one moment: relative POSIX path -> :class:`Entry`.

    Mostly read-only; :meth:`record` lets the diff and the tar writer store what they learned
    (digests, the stat of what was actually sent) so that committing the snapshot keeps it.
    """

    def __init__(self, entries: Mapping[str, Entry] | None = None, scanned_at_ns: int = 0) -> None:
        self._entries: dict[str, Entry] = dict(entries or {})
        #: When the scan started (``time.time_ns()``); files modified near it are "racy".
        self.scanned_at_ns = scanned_at_ns

    def __getitem__(self, path: str) -> Entry:
        return self._entries[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Snapshot({len(self)} entries, scanned_at_ns={self.scanned_at_ns})"

    def record(self, path: str, entry: Entry) -> None:
        """Replace what is known about ``path`` (used by the diff and the tar writer)."""
        self._entries[path] = entry

    def is_racy(self, entry: Entry) -> bool:
        """True when ``entry``'s mtime is too close to this scan to prove it unchanged."""
        return entry.mtime_ns >= self.scanned_at_ns - RACY_WINDOW_NS

    def digest(self) -> str:
        """A stable hash of the tree's paths and stat data, e.g. for a doit ``uptodate`` value.

        Content digests are left out: they are filled in lazily (by the diff and the tar writer),
        and must not make the same tree look different.
        """
        h = hashlib.blake2b(digest_size=16)
        for path in sorted(self._entries):
            e = self._entries[path]
            row = [path, e.kind, e.size, e.mtime_ns, e.mode, e.link_target]
            h.update(json.dumps(row, separators=(",", ":")).encode("utf-8", "surrogateescape"))
            h.update(b"\n")
        return h.hexdigest()

    def to_json(self) -> str:
        files = {p: list(self._entries[p]) for p in sorted(self._entries)}
        doc = {"version": FORMAT_VERSION, "scanned_at_ns": self.scanned_at_ns, "files": files}
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        """Parse :meth:`to_json` output; ``ValueError`` for corrupt or other-version data."""
        doc = json.loads(text)  # JSONDecodeError is a ValueError
        if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
            version = doc.get("version") if isinstance(doc, dict) else None
            raise ValueError(f"unsupported index version {version!r} (want {FORMAT_VERSION})")
        files, scanned_at = doc.get("files"), doc.get("scanned_at_ns", 0)
        if not isinstance(files, dict) or type(scanned_at) is not int:
            raise ValueError("index has no 'files' object or a bad 'scanned_at_ns'")
        bad = next(filter(_UNSAFE_PATH.search, files), None)
        if bad is not None:
            raise ValueError(f"index names a path outside the tree: {bad!r}")
        entries = _entries_in_bulk(files)
        if entries is None:  # something is malformed: the row-by-row check names it
            entries = {p: Entry.from_list(raw) for p, raw in files.items()}
        return cls(entries, scanned_at)


def _entries_in_bulk(files: dict[str, object]) -> dict[str, Entry] | None:
    """The rows of a loaded index as entries, checked column by column (C loops, not one
    Python call per row: loading a 100k-file index took 0.25 s in :meth:`Entry.from_list`).
    None when any row is malformed."""
    rows: list[Any] = list(files.values())
    if not all(type(r) is list and len(r) == 6 for r in rows):
        return None
    if not rows:
        return {}
    kinds, sizes, mtimes, modes, digests, targets = zip(*rows, strict=True)
    if not set(kinds) <= _KINDS or not set(map(type, sizes + mtimes + modes)) <= {int}:
        return None
    if not set(map(type, digests)) <= {str, type(None)}:
        return None
    if [type(t) is str for t in targets] != [k == "link" for k in kinds]:
        return None
    return dict(zip(files, map(Entry._make, rows), strict=True))


@dataclass(frozen=True)
class Changes:
    """What a push has to do. Apply :meth:`to_delete` first, then extract :meth:`to_send`.

    Order matters because a path whose kind changed (file -> directory, say) is in both.
    ``full`` means there was no usable index: everything is "created", and the container may
    hold leftovers from an earlier push that nothing here can name; a caller may clear the
    target first. ``touched`` lists files whose stat changed but whose content was verified
    unchanged by digest; they need no copy, only a commit so they are not hashed again.
    """

    created: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()
    full: bool = False
    touched: tuple[str, ...] = field(default=(), compare=False)

    def __bool__(self) -> bool:
        """True when the container needs anything sent or deleted."""
        return bool(self.created or self.modified or self.deleted or self.renamed)

    def to_send(self) -> tuple[str, ...]:
        """Paths to put in the tar: created, modified and rename targets, parents first."""
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
        if self.any is not None and self.any.search(path) is None:
            return None
        return self.spec.check_file(path).include


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
        name = "index.json" if key is None else f"index-{_safe_key(key)}.json"
        self.index_path = self.state_dir / name
        self._extra = _Rules(list(extra_ignores)) if extra_ignores else None
        self._skip_rel = _relative_inside(self.state_dir, self.root)
        self._exclude = {_relative_inside(Path(p), self.root) for p in exclude} - {None}

    # -- scanning ---------------------------------------------------------------------------

    def scan(self) -> Snapshot:
        """Walk the tree now. Content is not read here (see the module docstring)."""
        started = time.time_ns()
        entries: dict[str, Entry] = {}
        base: _Matchers = (("", self._extra),) if self._extra is not None else ()
        pending: list[tuple[str, _Matchers]] = [("", base)]
        root = os.fspath(self.root)
        while pending:
            rel_dir, matchers = pending.pop()
            abs_dir = os.path.join(root, rel_dir) if rel_dir else root
            try:
                with os.scandir(abs_dir) as it:
                    items = list(it)
            except OSError as exc:  # vanished or unreadable: report it, keep the rest
                if not rel_dir:
                    raise SyncError(f"{root}: cannot read the source directory: {exc}") from exc
                log.warning("skipping unreadable directory %s: %s", abs_dir, exc)
                continue
            prefix = rel_dir + "/" if rel_dir else ""
            rules = _read_ignores(abs_dir, {item.name for item in items})
            if rules is not None:
                matchers = (*matchers, (prefix, rules))
            for item in items:
                if item.name in ALWAYS_SKIP or DOIT_DB.match(item.name):
                    continue
                rel = prefix + item.name
                if rel == self._skip_rel or rel in self._exclude:
                    continue
                # _entry_for inlined for plain files and directories (nearly every entry):
                # this loop runs once per file and a call per entry was a tenth of a scan.
                try:
                    st = item.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                fmt = st.st_mode & 0o170000
                if fmt == 0o100000:
                    entry = Entry("file", st.st_size, st.st_mtime_ns, st.st_mode & 0o7777)
                elif fmt == 0o040000:
                    entry = Entry("dir", 0, st.st_mtime_ns, st.st_mode & 0o7777)
                else:
                    found = _entry_for(item)
                    if found is None:
                        continue
                    entry = found
                if matchers and _ignored(rel, fmt == 0o040000, matchers):
                    continue
                entries[rel] = entry
                if fmt == 0o040000:
                    pending.append((rel, matchers))
        return Snapshot(entries, started)

    # -- persistence ------------------------------------------------------------------------

    def load(self) -> Snapshot | None:
        """The last committed snapshot; ``None`` when absent, corrupt or another version."""
        try:
            text = self.index_path.read_text(encoding="utf-8", errors="surrogateescape")
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("cannot read index %s (%s); doing a full index", self.index_path, exc)
            return None
        try:
            return Snapshot.from_json(text)
        except ValueError as exc:
            log.warning("ignoring unusable index %s (%s); doing a full index", self.index_path, exc)
            return None

    def commit(self, snapshot: Snapshot) -> None:
        """Persist ``snapshot`` atomically. Call only after the copy succeeded, so that a failed
        or interrupted copy leaves the old index and the next push re-sends the same files."""
        created = not self.state_dir.exists()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if created:  # keep pyodo's state out of the user's commits
            (self.state_dir / ".gitignore").write_text("*\n", encoding="utf-8")
        fd, tmp = tempfile.mkstemp(prefix=".index-", suffix=".tmp", dir=self.state_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write(snapshot.to_json())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.index_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # -- diffing ----------------------------------------------------------------------------

    def diff(self, old: Snapshot | None, new: Snapshot) -> Changes:
        """Compare two snapshots. Records into ``new`` the digests carried over from ``old`` or
        computed here, so that committing ``new`` keeps them."""
        if old is None:
            return Changes(created=tuple(sorted(new)), full=True)
        created: list[str] = []
        modified: list[str] = []
        touched: list[str] = []
        # The plain dicts, not the Mapping API: this loop runs once per file on every scan.
        old_entries, new_entries = old._entries, new._entries
        deleted = [p for p in old_entries if p not in new_entries]
        racy_from = old.scanned_at_ns - RACY_WINDOW_NS
        for path, now in new_entries.items():
            before = old_entries.get(path)
            if before is None:
                created.append(path)
            elif before[:4] == now[:4] and before[5] == now[5] and before[2] < racy_from:
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
        )

    def changes(self) -> tuple[Changes, Snapshot]:
        """Load, scan and diff. When nothing needs copying but some files were only touched,
        commits right away: the container is already current, and this spares re-hashing."""
        old = self.load()
        new = self.scan()
        changes = self.diff(old, new)
        if old is not None and not changes and changes.touched:
            self.commit(new)
        return changes, new

    def _compare(
        self, path: str, before: Entry, now: Entry, racy: bool, snapshot: Snapshot
    ) -> Literal["same", "touched", "modified"]:
        if before.stale:
            return "modified"
        if now.kind == "dir":
            return "same" if before.mode == now.mode else "modified"
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
    """Git's precedence: the deepest ignore file with a matching pattern decides; within one
    file the last match wins (``GitIgnoreSpec`` also handles git's file-over-dir priority)."""
    suffix = "/" if is_dir else ""
    for prefix, rules in reversed(matchers):
        result = rules.decide(rel[len(prefix) :] + suffix)
        if result is not None:
            return result
    return False


def _read_ignores(directory: str, names: set[str]) -> _Rules | None:
    lines: list[str] = []
    for name in IGNORE_FILES:
        if name not in names:
            continue
        path = os.path.join(directory, name)
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                lines.extend(f.read().splitlines())
        except OSError as exc:  # e.g. a dangling .gitignore symlink
            log.warning("cannot read %s: %s", path, exc)
    return _Rules(lines) if lines else None


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
