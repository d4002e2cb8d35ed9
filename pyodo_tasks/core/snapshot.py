"""The indexed tree at one moment (:class:`Snapshot` of :class:`Entry` rows), and its
serialised form: the columns of the full index file and of its log's records.

Why a module of its own: the index's files (:mod:`.indexfiles`) read and write snapshots, and
the scan (:mod:`.index`) makes them and keeps those files; with the snapshot in either, the
other two would import each other. The file format is described in :mod:`.index`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import operator
import re
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:
    from pyodo_tasks.core.statcache import StatCache

__all__ = ["FORMAT_VERSION", "RACY_WINDOW_NS", "Entry", "Kind", "Snapshot"]

FORMAT_VERSION = 3
#: The index file's columns, in :class:`Entry` field order.
_COLUMNS = ("kind", "size", "mtime_ns", "mode", "digest", "link_target")

#: A file whose mtime is this close to (or after) the scan that recorded it may have been
#: rewritten in the same timestamp tick without changing size; it is checked by content.
#: Generous because network and VM-shared file systems have coarse or skewed clocks.
RACY_WINDOW_NS = 2_000_000_000
#: Absolute, empty, ``.``/``..`` segments or NUL: never a path this index wrote.
_UNSAFE_PATH = re.compile(r"^/|/$|^$|//|(^|/)\.\.?(/|$)|\x00")
#: The same as substrings of all paths joined (and framed) by newlines, dot segments aside
#: (:func:`_dot_segment`): see :func:`_unsafe_path`.
_UNSAFE_PARTS = ("\x00", "\n/", "/\n", "\n\n", "//")

#: The kinds' names and the permission modes rows hold, one object each (bounded: three
#: names, at most 4,096 modes).
_SHARED: dict[Any, Any] = {}

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


class Snapshot(Mapping[str, Entry]):
    """The indexed tree at one moment: relative POSIX path -> :class:`Entry`.

    Mostly read-only; :meth:`record` lets the diff and the tar writer store what they learned
    (digests, the stat of what was actually sent) so that committing the snapshot keeps it.

    ``rules_key`` and ``ignores`` describe the ignore rules the scan applied (a digest of the
    index's own settings; each directory's ignore-file text). A later scan that finds the same
    rules knows every path this snapshot holds is still included, without matching it again.

    A loaded snapshot keeps its rows as the plain tuples the load made (``_entries`` values are
    :class:`Entry` or such a tuple) and makes an :class:`Entry` of a row when it is asked for:
    a no-change scan carries 100k rows over and compares them by position, and making 100k
    named tuples up front cost more than the whole comparison.
    """

    def __init__(
        self,
        entries: Mapping[str, Entry] | None = None,
        scanned_at_ns: int = 0,
        *,
        rules_key: str | None = None,
        ignores: Mapping[str, str] | None = None,
    ) -> None:
        self._rows: dict[str, Entry] = dict(entries or {})
        #: A loaded snapshot's rows, not made yet (see :attr:`_entries`): the paths and the
        #: columns of :data:`_COLUMNS` as the index file holds them.
        self._columns: tuple[list[str], list[list[Any]]] | None = None
        #: ... or not even parsed yet: what reads them from the index file (a snapshot loaded
        #: through the stat cache, :mod:`.statcache`, which is ``_stat``).
        self._load: Callable[[], tuple[list[str], list[list[Any]]]] | None = None
        self._stat: StatCache | None = None
        #: When the scan started (``time.time_ns()``); files modified near it are "racy".
        self.scanned_at_ns = scanned_at_ns
        self.rules_key = rules_key
        self.ignores: dict[str, str] = dict(ignores or {})
        #: Set by a scan given ``previous``: that snapshot, and the paths whose entry is not
        #: the very object carried over from it (all others are unchanged and not racy).
        #: A weak link: a strong one made every rescan of doit dev keep the one before it
        #: alive, and that one its own (13 MiB more per save on a 100k-path tree).
        self._base: weakref.ReferenceType[Snapshot] | None = None
        self._suspects: list[str] = []
        #: :meth:`digest`'s running sum of one hash per row (None: not computed yet). A rescan
        #: carries it from its previous snapshot (:mod:`pyodo_tasks.core.rescan`), and
        #: :meth:`record` keeps it current, so a save costs the rows it touched.
        self._sum: int | None = None
        #: Counts :meth:`record` calls: a commit appends its changes to the index's log only
        #: if the snapshot the files hold was not changed since (:mod:`.indexfiles`).
        self._version = 0
        #: Paths given to :meth:`record` while ``_base`` is set (part of a commit's changes);
        #: None once they are too many for a log record (a first sync: every file).
        self._recorded: set[str] | None = set()
        #: Set by a rescan: the previous snapshot's paths it no longer holds.
        self._gone: list[str] | None = None
        #: When :meth:`FileIndex.commit` wrote this snapshot (``time.time_ns()``); None when
        #: it was never committed, or by a pyodo that did not record it.
        self.committed_at_ns: int | None = None
        #: Made by a scan (not loaded): its ``_suspects`` hold every entry that may be racy,
        #: which is what lets :mod:`pyodo_tasks.core.rescan` look only at the paths it is told.
        self.walked = False
        #: The root directory's mtime when the scan listed it (None: not known). With each
        #: directory row's, it lets :mod:`pyodo_tasks.core.refresh` skip listing directories
        #: whose names cannot have changed.
        self.root_mtime_ns: int | None = None

    @property
    def _entries(self) -> dict[str, Entry]:
        """Path -> row. A loaded snapshot makes its rows on first use: a push that finds
        nothing changed (:mod:`pyodo_tasks.core.refresh`) compares the file's columns with
        the disk and never needs them (100k rows: 70 ms, a sixth of that push's index)."""
        if self._load is not None:  # the stat cache first let go (8 MiB on 100k paths)
            self._stat = None
            self._columns, self._load = self._load(), None
        columns = self._columns
        if columns is not None:
            # The stat cache goes with the columns: on 100k paths it is 8 MiB that doit dev,
            # which holds its snapshots for the session, would carry beside the rows.
            self._columns = self._stat = None
            paths, values = columns
            rows: Iterator[Any] = zip(*values, strict=True)  # plain tuples: see the class
            self._rows = dict(zip(paths, rows, strict=True))
        return self._rows

    @_entries.setter
    def _entries(self, rows: dict[str, Entry]) -> None:
        self._rows, self._columns, self._load = rows, None, None

    def columns(self) -> tuple[list[str], list[list[Any]]]:
        """The paths and the columns of :data:`_COLUMNS` (a loaded snapshot's own, else
        made from its rows): for comparing every row with the disk in C loops."""
        if self._load is not None:
            self._columns, self._load = self._load(), None
        if self._columns is not None:
            return self._columns
        paths = list(self._rows)
        rows = list(self._rows.values())
        return paths, [list(map(operator.itemgetter(i), rows)) for i in range(len(_COLUMNS))]

    def rows(self) -> Iterable[tuple[str, Any]]:
        """Each ``(path, row)``, without making the rows dict of a loaded snapshot."""
        if self._columns is not None:
            paths, values = self._columns
            return zip(paths, zip(*values, strict=True), strict=True)
        return self._entries.items()

    def unchanged(self, scanned_at_ns: int) -> Snapshot:
        """A snapshot of the same rows scanned at ``scanned_at_ns``, made from this one (as a
        rescan that found nothing would be), sharing a loaded snapshot's columns until its
        rows are needed: the caller proved no row moved and none is racy."""
        copy = Snapshot(scanned_at_ns=scanned_at_ns, rules_key=self.rules_key, ignores=self.ignores)
        if self._columns is not None or self._load is not None:
            copy._columns, copy._load, copy._stat = self._columns, self._load, self._stat
        else:
            copy._rows = dict(self._rows)
        copy._base, copy._gone, copy.walked = weakref.ref(self), [], True
        copy._sum, copy.root_mtime_ns = self._sum, self.root_mtime_ns
        return copy

    def __getitem__(self, path: str) -> Entry:
        entry = self._entries[path]
        if type(entry) is not Entry:
            entry = self._entries[path] = Entry._make(entry)
        return entry

    def __contains__(self, path: object) -> bool:
        return path in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Snapshot({len(self)} entries, scanned_at_ns={self.scanned_at_ns})"

    def record(self, path: str, entry: Entry) -> None:
        """Replace what is known about ``path`` (used by the diff and the tar writer)."""
        before = self._entries.get(path)
        self._entries[path] = entry
        self._version += 1
        if self._base is not None and self._recorded is not None:
            self._recorded.add(path)
            if len(self._recorded) > len(self._entries) // 4 + 64:
                self._recorded = None  # a record that large: the full file is due anyway
        if self._sum is not None and (
            before is None or _STAT_FIELDS(before) != _STAT_FIELDS(entry)
        ):
            gone = _row_hash((path, before)) if before is not None else 0
            self._sum = (self._sum - gone + _row_hash((path, entry))) % _MOD

    def is_racy(self, entry: Entry) -> bool:
        """True when ``entry``'s mtime is too close to this scan to prove it unchanged."""
        return entry.mtime_ns >= self.scanned_at_ns - RACY_WINDOW_NS

    def digest(self) -> str:
        """A stable hash of the tree's paths and stat data: the state file's "built" value,
        doit dev's ``sourceDigest``, doit's ``uptodate`` values.

        A sum of one hash per row (:func:`_row_hash`), mod 2**128: a snapshot made by a rescan
        gets it from its previous one's by taking out the rows that went and adding the rows
        that came, so a save in a 1M-path tree costs the rows it touched, not a sort and a hash
        of every row (seconds). Content digests are left out: they are filled in lazily (by the
        diff and the tar writer), and must not make the same tree look different.
        """
        if self._sum is None:
            self._sum = sum(map(_row_hash, self._entries.items())) % _MOD
        return f"{self._sum:032x}"

    def _sum_text(self) -> str | None:
        """:meth:`digest` when known, for the index's files: a push that finds nothing
        changed then needs no hash of every row (100k rows: 0.15 s)."""
        return None if self._sum is None else f"{self._sum:032x}"

    def to_json(self) -> str:
        return "".join(self.json_pieces())

    def json_pieces(self, log_id: str | None = None) -> Iterator[str]:
        """:meth:`to_json`'s text in pieces (a header, then slices of each column), so that
        :meth:`FileIndex.commit` writes a 1M-path index without holding it whole. ``log_id``
        names this full index for the records appended after it (:mod:`.recordlog`)."""
        paths = sorted(self._entries)
        header = header_of(self, log_id)
        yield _dumps(header)[:-1]
        yield from _column_pieces(paths, list(map(self._entries.__getitem__, paths)))
        yield "}"

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        """Parse :meth:`to_json` output; ``ValueError`` for corrupt or other-version data."""
        doc = json.loads(text)  # JSONDecodeError is a ValueError
        del text  # a 1M-path index's text: no longer needed while the rows are made
        return cls._from_doc(doc)

    @classmethod
    def _from_doc(cls, doc: Any) -> Snapshot:
        if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
            version = doc.get("version") if isinstance(doc, dict) else None
            raise ValueError(f"unsupported index version {version!r} (want {FORMAT_VERSION})")
        scanned_at = doc.get("scanned_at_ns", 0)
        if type(scanned_at) is not int:
            raise ValueError("index has a bad 'scanned_at_ns'")
        paths, columns = _rows(doc)
        rules, ignores = doc.get("rules"), doc.get("ignores")
        if type(rules) is not str or not _str_to_str(ignores):  # odd: match afresh
            rules, ignores = None, None
        snapshot = cls(scanned_at_ns=scanned_at, rules_key=rules, ignores=ignores)
        snapshot._columns = (paths, columns)  # rows made when first needed (_entries)
        _read_fields(snapshot, doc)
        return snapshot

    def _apply(self, record: Mapping[str, Any]) -> None:
        """One commit's changes (:meth:`FileIndex.commit`'s log record); ``ValueError`` when
        malformed. Stops short of nothing: a record is whole or was never read."""
        deleted, ignores, ignored = (
            record.get("deleted"),
            record.get("ignores"),
            record.get("unignored"),
        )
        scanned_at, committed = record.get("scanned_at_ns"), record.get("committed_at_ns")
        if type(scanned_at) is not int or type(committed) not in (int, type(None)):
            raise ValueError("index log record has a bad 'scanned_at_ns' or 'committed_at_ns'")
        if type(deleted) is not list or not set(map(type, deleted)) <= {str}:
            raise ValueError("index log record has no 'deleted' list of strings")
        if (
            type(ignored) is not list
            or not _str_to_str(ignores)
            or record.get("rules") != self.rules_key
        ):
            raise ValueError("index log record has bad 'ignores', 'unignored' or 'rules'")
        paths, columns = _rows(record)
        entries = self._entries
        for path in deleted:
            entries.pop(path, None)
        rows: Iterator[Any] = zip(*columns, strict=True)
        entries.update(zip(paths, rows, strict=True))
        for rel in ignored:
            self.ignores.pop(rel, None)
        self.ignores.update(ignores)  # type: ignore[arg-type]  # checked by _str_to_str
        self.scanned_at_ns = scanned_at
        _read_fields(self, record)  # the sum: the whole tree's, after this commit


def header_of(snapshot: Snapshot, log_id: str | None) -> dict[str, Any]:
    """The fields of the full index file named ``log_id`` that are not rows (also the stat
    cache's, which :func:`from_cache` reads)."""
    return {
        "version": FORMAT_VERSION,
        "log": log_id,
        "scanned_at_ns": snapshot.scanned_at_ns,
        "committed_at_ns": snapshot.committed_at_ns,
        "root_mtime_ns": snapshot.root_mtime_ns,
        "sum": snapshot._sum_text(),
        "rules": snapshot.rules_key,
        "ignores": snapshot.ignores,
    }


def from_cache(
    cache: StatCache, load: Callable[[], tuple[list[str], list[list[Any]]]]
) -> Snapshot | None:
    """A snapshot of the full index file ``cache`` mirrors (:mod:`.statcache`), its rows
    read by ``load`` when first needed; None when the cache's fields are not well-formed."""
    head = cache.header
    scanned_at, rules = head.get("scanned_at_ns"), head.get("rules")
    ignores = head.get("ignores")
    if head.get("version") != FORMAT_VERSION or type(scanned_at) is not int:
        return None
    if type(rules) is not str or not _str_to_str(ignores):
        return None
    snapshot = Snapshot(scanned_at_ns=scanned_at, rules_key=rules, ignores=ignores)
    snapshot._stat, snapshot._load = cache, load
    _read_fields(snapshot, head)
    return snapshot


def _read_fields(snapshot: Snapshot, head: Mapping[str, Any]) -> None:
    """The fields of :func:`header_of` that a full index file, a log record and the stat
    cache all carry, and which are None when absent or odd."""
    snapshot.committed_at_ns = _int_or_none(head.get("committed_at_ns"))
    snapshot.root_mtime_ns = _int_or_none(head.get("root_mtime_ns"))
    snapshot._sum = _sum_of(head.get("sum"))


#: An entry's stat fields (all but the content digest), for :meth:`Snapshot.digest`.
_STAT_FIELDS = operator.itemgetter(0, 1, 2, 3, 5)
#: :meth:`Snapshot.digest`'s modulus: 128 bits.
_MOD = 1 << 128
#: Items per piece of :func:`_json_list_pieces`.
_JSON_SLICE = 4096


def _row_hash(item: tuple[str, Entry]) -> int:
    """One row's share of :meth:`Snapshot.digest`: its path and stat fields, hashed."""
    path, e = item
    text = f"{path}\0{e[0]}\0{e[1]}\0{e[2]}\0{e[3]}\0{e[5]}"
    digest = hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=16).digest()
    return int.from_bytes(digest, "little")


def _column_pieces(paths: list[str], rows: list[Any]) -> Iterator[str]:
    """``,"paths":[...]`` then each of :data:`_COLUMNS` the same way, in pieces."""
    columns: list[tuple[str, Iterable[Any]]] = [("paths", paths)]
    columns += [(name, map(operator.itemgetter(i), rows)) for i, name in enumerate(_COLUMNS)]
    for name, values in columns:
        yield f',"{name}":'
        yield from _json_list_pieces(values)


def _rows(doc: Mapping[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """``doc``'s paths and its columns (:data:`_COLUMNS`), checked (``ValueError``
    otherwise)."""
    paths = doc.get("paths")
    if type(paths) is not list:
        raise ValueError("index has no 'paths' list")
    if not set(map(type, paths)) <= {str}:
        raise ValueError("index 'paths' holds a non-string")
    bad = _unsafe_path(paths)
    if bad is not None:
        raise ValueError(f"index names a path outside the tree: {bad!r}")
    columns: list[Any] = [doc.get(name) for name in _COLUMNS]
    _check_columns(columns, len(paths))
    # One object per kind and per mode, not one per row as parsed: 8 MiB on 100k rows that
    # doit dev, started on a pushed tree, keeps for its session.
    columns[0] = list(map(_SHARED.setdefault, columns[0], columns[0]))
    columns[3] = list(map(_SHARED.setdefault, columns[3], columns[3]))
    return paths, columns


def _int_or_none(value: object) -> int | None:
    return value if type(value) is int else None


def _sum_of(text: object) -> int | None:
    """:meth:`Snapshot.digest`'s sum as the index file holds it (None: not recorded)."""
    if type(text) is not str or len(text) != 32:
        return None
    try:
        return int(text, 16)
    except ValueError:
        return None


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _json_list_pieces(items: Iterable[Any]) -> Iterator[str]:
    """``json.dumps(list(items))`` (compact) as pieces of :data:`_JSON_SLICE` items: the same
    text, joined, without a list or a string of every item at once."""
    it = iter(items)
    yield "["
    first = True
    while piece := list(itertools.islice(it, _JSON_SLICE)):
        text = _dumps(piece)[1:-1]
        yield text if first else "," + text
        first = False
    yield "]"


def _str_to_str(value: object) -> bool:
    return isinstance(value, dict) and all(
        type(k) is str and type(v) is str for k, v in value.items()
    )


def _unsafe_path(paths: Sequence[str]) -> str | None:
    """The first of ``paths`` that is not one this index could have written, or None.

    Substring searches over all paths joined by newlines (each a C scan of the text), a
    regex per path only when one hits: a newline inside a name can make the joined text
    over-report, never under-report."""
    joined = "\n" + "\n".join(paths) + "\n"
    if not paths or not (
        any(part in joined for part in _UNSAFE_PARTS) or _dot_segment(joined, "\n")
    ):
        return None
    return next(filter(_UNSAFE_PATH.search, paths), None)


def _dot_segment(joined: Any, sep: Any) -> bool:
    """Whether paths joined and framed by ``sep`` (str or bytes alike: the stat cache's are
    NUL-joined bytes) may hold a ``.`` or ``..`` segment: each segment starting with a dot is
    looked at (a dotfile's name, mostly), two C scans of the text in all where one per form
    of the two segments took eight."""
    slash: Any = "/" if isinstance(joined, str) else b"/"
    dot: Any = "." if isinstance(joined, str) else b"."
    for start in (sep + dot, slash + dot):
        at = joined.find(start)
        while at != -1:
            rest = joined[at + 2 : at + 4]
            if rest[:1] in (sep, slash) or rest in (dot + sep, dot + slash):
                return True
            at = joined.find(start, at + 2)
    return False


def _check_columns(columns: list[Any], count: int) -> None:
    """``ValueError`` unless the loaded columns make ``count`` well-formed entries; checked a
    column at a time (C loops, not one Python call per row)."""
    if any(type(c) is not list or len(c) != count for c in columns):
        raise ValueError(f"index columns {', '.join(_COLUMNS)} must be lists of {count}")
    kinds, sizes, mtimes, modes, digests, targets = columns
    if not set(kinds) <= _KINDS:
        raise ValueError(f"index 'kind' holds an unknown kind: {sorted(set(kinds) - _KINDS)}")
    if not set(map(type, sizes)) | set(map(type, mtimes)) | set(map(type, modes)) <= {int}:
        raise ValueError("index 'size', 'mtime_ns' and 'mode' must hold integers")
    if modes and (min(modes) < 0 or max(modes) > 0o7777):
        raise ValueError("index 'mode' must hold permission bits (0 to 0o7777)")
    if not set(map(type, digests)) <= {str, type(None)}:
        raise ValueError("index 'digest' must hold strings or nulls")
    # A link, and only a link, has a target string: every link's is a str, and there are
    # exactly as many non-null targets as links.
    links = kinds.count("link")
    link_targets = set(map(type, itertools.compress(targets, map("link".__eq__, kinds))))
    if len(targets) - targets.count(None) != links or not link_targets <= {str}:
        raise ValueError("index 'link_target': a link, and only a link, has a target string")
