"""The file index's files: the full index file and the log of the commits since.

Why a log: ``doit dev`` commits the index after every sync, and writing the whole file cost
0.13-0.16 s on 100k paths and ten times that on 1M, for an edit of one file. A commit of a
snapshot scanned from the one the files hold appends one record of its changed rows
(:mod:`.recordlog`); the full file is written again when the changes are not known, when the
files are not the ones this process last read or wrote (another process committed), after a
torn or foreign record, or once the log would outgrow :data:`LOG_LIMIT` of the full file.

Crash safety: the full file is written to a new file renamed over the old (then the old log
removed: a log left behind names the old file, and is ignored); a record is one appended
write, and a kill mid-append leaves a torn tail that loading ignores. At any moment the files
load as the old state or the new one.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyodo_tasks.core import recordlog, statcache
from pyodo_tasks.core.snapshot import _COLUMNS, Snapshot, from_cache, header_of
from pyodo_tasks.errors import SyncError

__all__ = ["LOG_LIMIT", "IndexFiles"]

log = logging.getLogger(__name__)

#: The log is folded into a new full index file when it would grow past this share of it.
LOG_LIMIT = 0.25

_Identity = tuple[int, int, int]


def _identity(st: os.stat_result) -> _Identity:
    """Which index file this is: another commit (a new file renamed over) changes it."""
    return st.st_ino, st.st_size, st.st_mtime_ns


def _stat_identity(path: Path) -> _Identity | None:
    try:
        return _identity(os.stat(path))
    except FileNotFoundError:
        return None


@dataclass
class _Written:
    """What :class:`IndexFiles` last read or wrote: its files' identities (the full index's,
    the log's or None), the snapshot they hold and its ``_version`` then, the full index's log
    id and size, the log's size, and whether a record may be appended to the log."""

    files: tuple[_Identity, _Identity | None]
    snapshot: Snapshot
    version: int
    log_id: str
    base_size: int
    log_size: int
    appendable: bool


def _gone_from(base: Snapshot, snapshot: Snapshot) -> list[str]:
    """``base``'s paths that ``snapshot`` (a walk from ``base``) no longer holds: none when
    the counts say so (every row a walk did not look at again is one of ``base``'s)."""
    old, new = base._entries, snapshot._entries
    looked_at = set(snapshot._suspects)
    if len(new) - sum(p not in old for p in looked_at) == len(old):
        return []
    return [p for p in old if p not in new]


class IndexFiles:
    """One index's full file (``path``) and log (``log_path``), and the snapshot they hold
    as this process last read or wrote them."""

    def __init__(self, path: Path, log_path: Path) -> None:
        self.path = path
        self.log_path = log_path
        #: The stat cache of the full file (:mod:`.statcache`): what a push's refresh reads.
        self.stat_path = path.with_suffix(".stat")
        #: The log's largest size, as a share of the full index file's.
        self.log_limit = LOG_LIMIT
        self.last: _Written | None = None

    def load(self) -> Snapshot | None:
        """The last committed snapshot; ``None`` when absent, corrupt or another version.

        The full index file, then the records its log holds (:mod:`.recordlog`): a torn or
        corrupt record ends the log there (the state the last whole commit left; a warning).
        The same object as last time while both files are the ones this index last read or
        wrote (a loaded snapshot is only read: scans and diffs record into the new one)."""
        self.last, last = None, self.last
        cached = self._load_cached(last)
        if cached is not None:
            return cached
        try:
            with open(self.path, encoding="utf-8", errors="surrogateescape") as f:
                seen = _identity(os.fstat(f.fileno()))  # last's files were checked just above
                # The text is passed on, not kept: it is dropped once parsed.
                doc = json.loads(f.read())
            snapshot = Snapshot._from_doc(doc)
            written = self._read_log(snapshot, doc.get("log"), seen)
            del doc
            if written.appendable:  # whole and clean: the next load need not parse it again
                self._write_cache(written.files, snapshot, written.log_id)
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("cannot read index %s (%s); doing a full index", self.path, exc)
            return None
        except ValueError as exc:
            log.warning("ignoring unusable index %s (%s); doing a full index", self.path, exc)
            return None
        self.last = written
        return snapshot

    def _load_cached(self, last: _Written | None) -> Snapshot | None:
        """The snapshot through the stat cache, its rows not read (when the cache mirrors the
        full file and the log on disk); else None."""
        try:
            seen = _identity(os.stat(self.path))
        except OSError:
            return None
        log_seen = _stat_identity(self.log_path)
        if last is not None and last.files == (seen, log_seen):
            self.last = last
            return last.snapshot
        cache = statcache.read(self.stat_path, (seen, log_seen))
        if cache is None:
            return None
        log_id = cache.header["log"]
        if type(log_id) is not str:
            return None
        # The files' bytes are read now, their rows parsed only when needed: another process
        # may commit meanwhile (doit's up-to-date check runs outside the sync lock), and the
        # rows must be those the cache mirrored, not a newer file's.
        data = self._bytes_of((seen, log_seen))
        if data is None:
            return None
        snapshot = from_cache(cache, lambda: self._rows_of(data, log_id))
        if snapshot is None:
            return None
        log_size = 0 if log_seen is None else log_seen[1]
        self.last = _Written(
            (seen, log_seen), snapshot, snapshot._version, log_id, seen[1], log_size, True
        )
        return snapshot

    def _bytes_of(self, files: statcache.Mirrors) -> tuple[bytes, bytes] | None:
        """The full file's and the log's bytes, when they are still the files ``files``
        names (else None: they were written meanwhile)."""
        try:
            with open(self.path, "rb") as f:
                if _identity(os.fstat(f.fileno())) != files[0]:
                    return None
                full = f.read()
            if files[1] is None:
                return (full, b"") if not self.log_path.exists() else None
            with open(self.log_path, "rb") as f:
                if _identity(os.fstat(f.fileno())) != files[1]:
                    return None
                return full, f.read()
        except OSError:
            return None

    def _rows_of(self, data: tuple[bytes, bytes], log_id: str) -> tuple[list[str], list[list[Any]]]:
        """The paths and columns of the full file and its log as read at load, for a snapshot
        loaded through the stat cache (:class:`SyncError` if they do not parse: the cache
        said they would)."""
        try:
            doc = json.loads(data[0].decode("utf-8", "surrogateescape"))
            if not isinstance(doc, dict) or doc.get("log") != log_id:
                raise ValueError("it is not the file its stat cache mirrored")
            snapshot = Snapshot._from_doc(doc)
            del doc
            found = recordlog.read(data[1], log_id)
            if not found.clean:
                raise ValueError(f"its log is not whole ({found.problem})")
            for record in found.records:
                snapshot._apply(record)
            return snapshot.columns()
        except ValueError as exc:
            raise SyncError(
                f"{self.path}: the index does not parse as its stat cache said ({exc}); "
                "delete the .pyodo directory's index files to sync everything again"
            ) from exc

    def _read_log(self, snapshot: Snapshot, log_id: object, seen: _Identity) -> _Written:
        """Apply the log's records to ``snapshot`` (the full index, identity ``seen``)."""
        named = log_id if type(log_id) is str else ""  # a full file without an id: no log
        try:
            with open(self.log_path, "rb") as f:
                log_seen: _Identity | None = _identity(os.fstat(f.fileno()))
                data = f.read()
        except FileNotFoundError:
            log_seen, data = None, b""
        found = recordlog.read(data, named)
        for record in found.records:
            snapshot._apply(record)
        if not found.clean:
            log.warning(
                "ignoring the end of %s (%s): the index is the last whole commit before it",
                self.log_path,
                found.problem,
            )
        return _Written(
            (seen, log_seen),
            snapshot,
            snapshot._version,
            named,
            seen[1],
            found.size,
            found.clean and type(log_id) is str,
        )

    def commit(self, snapshot: Snapshot, *, cache: bool = True) -> None:
        """Write ``snapshot``: one record appended to the log when :meth:`_log_line` can say
        what changed, else the whole file. Either way a kill at any moment leaves the old
        state or the new one. ``cache``: also write the stat cache (a push's next one then loads
        without the JSON; doit dev, committing at every edit and holding its snapshot, leaves
        it to the next process's load)."""
        last, self.last = self.last, None
        line = self._log_line(snapshot, last)
        if last is not None and line is not None:
            st = recordlog.append(self.log_path, line)
            files = (last.files[0], _identity(st))
            self.last = _Written(
                files, snapshot, snapshot._version, last.log_id, last.base_size, st.st_size, True
            )
            if cache:
                self._write_cache(files, snapshot, last.log_id)
        else:
            self.last = self._write_full(snapshot, cache)

    def _log_line(self, snapshot: Snapshot, last: _Written | None) -> bytes | None:
        """``snapshot``'s changes from the snapshot the files hold, as one log record; None
        when they are not known, or the full index is due."""
        base = snapshot._base() if snapshot._base is not None else None
        if (
            last is None
            or base is not last.snapshot
            or not last.appendable
            or snapshot._recorded is None
            or base._version != last.version  # recorded into since: no longer the files'
            or snapshot.rules_key != base.rules_key
            or last.files != (_stat_identity(self.path), _stat_identity(self.log_path))
        ):
            return None
        entries, old = snapshot._entries, base._entries
        changed = set(snapshot._suspects)
        changed.update(snapshot._recorded or ())
        paths = sorted(p for p in changed if p in entries)
        gone = snapshot._gone if snapshot._gone is not None else _gone_from(base, snapshot)
        rows = [entries[p] for p in paths]
        record: dict[str, Any] = {
            "base": last.log_id,
            "scanned_at_ns": snapshot.scanned_at_ns,
            "committed_at_ns": snapshot.committed_at_ns,
            "root_mtime_ns": snapshot.root_mtime_ns,
            "sum": snapshot._sum_text(),
            "rules": snapshot.rules_key,
            "ignores": {k: v for k, v in snapshot.ignores.items() if base.ignores.get(k) != v},
            "unignored": [k for k in base.ignores if k not in snapshot.ignores],
            "deleted": sorted(p for p in gone if p in old and p not in entries),
            "paths": paths,
        }
        for i, name in enumerate(_COLUMNS):
            record[name] = [row[i] for row in rows]
        line = recordlog.encode(record)
        if last.log_size + len(line) > last.base_size * self.log_limit:
            return None
        return line

    def _write_full(self, snapshot: Snapshot, cache: bool = True) -> _Written:
        """The whole index, written to a new file renamed over the old; then the log (of the
        old one) removed. A log left by a kill in between is known stale by its records."""
        log_id = os.urandom(8).hex()
        fd, tmp = tempfile.mkstemp(prefix=".index-", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.writelines(snapshot.json_pieces(log_id))
                f.flush()
                os.fsync(f.fileno())
                written = _identity(os.fstat(f.fileno()))  # a rename keeps all three
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if cache:  # named by the new file's identity: one of the old is ignored from now on
            self._write_cache((written, None), snapshot, log_id)
        try:
            self.log_path.unlink(missing_ok=True)
        except OSError as exc:  # its records name the old file: ignored, written over next
            log.warning("cannot remove %s (%s)", self.log_path, exc)
            files = (written, _stat_identity(self.log_path))
            return _Written(files, snapshot, snapshot._version, log_id, written[1], 0, False)
        return _Written((written, None), snapshot, snapshot._version, log_id, written[1], 0, True)

    def _write_cache(self, files: statcache.Mirrors, snapshot: Snapshot, log_id: str) -> None:
        """The stat cache of ``snapshot``, as the files of identities ``files`` hold it."""
        statcache.write(self.stat_path, files, header_of(snapshot, log_id), snapshot.rows())

    def forget(self) -> None:
        """Remove both files (the component was deleted)."""
        self.last = None
        self.path.unlink(missing_ok=True)
        self.log_path.unlink(missing_ok=True)
        self.stat_path.unlink(missing_ok=True)
