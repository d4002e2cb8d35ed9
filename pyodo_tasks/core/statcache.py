"""The index's stat cache: a binary copy of what a push's refresh compares with the disk.

Why: a push that finds nothing changed (:mod:`.refresh`) compares every indexed path's stat
with the index. Parsed from the JSON index file, 100k paths cost ~0.1 s of Python objects
(strings, ints, checks) before the first ``lstat``, which put the refresh at 1.7 times
``git status``. This file holds only those columns, as git's own index is a binary stat cache:
the paths NUL-joined (UTF-8, bytes for ``os.lstat``), and mtime, size and full ``st_mode`` as
arrays of 64-bit integers that load as one copy each. Loading it costs ~10 ms on 100k paths.

It is a cache, never the truth: written after each full index file (:mod:`.indexfiles`), and
by a load that had to read the JSON (a log appended since, by a push or doit dev), naming the
identities (inode, size, mtime) of the full file and of its log as they were; read only while
both are still those. Anything else (other files, a torn or foreign cache) means it is ignored
and the JSON index and its log are read, as before it existed (and the cache written anew).

Layout: :data:`MAGIC`, the paths, the three arrays, one kind byte per path, then the header
(JSON: which file it mirrors, the snapshot's fields, the sections' sizes) and its length as
8 little-endian bytes.
"""

from __future__ import annotations

import array
import itertools
import json
import logging
import os
import struct
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pyodo_tasks.core.snapshot import _dot_segment

__all__ = ["MAGIC", "Mirrors", "StatCache", "read", "write"]

log = logging.getLogger(__name__)

MAGIC = b"pyodo-stat-cache 1\n"
#: Kind -> its byte in the file, and the file-type bits of ``st_mode`` it stands for.
KIND_BYTES = {"file": ord("f"), "dir": ord("d"), "link": ord("l")}
KIND_BITS = {"file": 0o100000, "dir": 0o040000, "link": 0o120000}
#: NUL-framed forms of a path this index never wrote (absolute, trailing slash, empty,
#: ``//``); ``.``/``..`` segments are looked for separately (:func:`_dot_segment`).
_UNSAFE = (b"\0/", b"/\0", b"\0\0", b"//")
#: Paths written at a time.
_SLICE = 4096
#: The identities (inode, size, mtime) of the full index file and of its log (None: no log).
Mirrors = tuple[tuple[int, int, int], tuple[int, int, int] | None]


@dataclass(frozen=True)
class StatCache:
    """A full index file's paths and stat columns, and its snapshot's fields (``header``)."""

    paths: list[bytes]
    mtimes: array.array[int]
    sizes: array.array[int]
    modes: array.array[int]  # st_mode as the disk gives it: type bits and permissions
    kinds: bytes  # one of KIND_BYTES per path
    header: dict[str, Any]


def write(path: Path, mirrors: Mirrors, header: dict[str, Any], rows: Any) -> None:
    """Write the cache of the index files of identities ``mirrors``. ``rows``: the snapshot's
    ``(path, entry)`` pairs; ``header``: its fields. The paths are written a slice at a time
    (doit dev's peak memory is its first commit's, and 100k paths as one bytes list and one
    joined blob were 10 MiB more); the header comes last, its length in the last 8 bytes.
    Failures are logged, not raised: without the cache a push reads the JSON index, as it
    always could."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".stat-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(MAGIC)
                count, size, columns = _write_paths(f, rows)
                f.writelines(columns)
                head = {
                    **header,
                    "mirrors": _json_mirrors(mirrors),
                    "count": count,
                    "paths_bytes": size,
                    "byteorder": sys.byteorder,
                }
                line = json.dumps(head, separators=(",", ":")).encode("utf-8", "surrogateescape")
                f.write(line + struct.pack("<Q", len(line)))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.warning("cannot write the index's stat cache %s (%s)", path, exc)


def _write_paths(f: BinaryIO, rows: Any) -> tuple[int, int, list[Any]]:
    """The NUL-joined paths, written in slices; the count, the bytes written, and the
    columns to write after them (mtimes, sizes, modes, kinds)."""
    mtimes, sizes, modes = array.array("q"), array.array("q"), array.array("q")
    kinds = bytearray()
    count = size = 0
    it = iter(rows)
    while piece := list(itertools.islice(it, _SLICE)):
        blob = b"\0".join(rel.encode("utf-8", "surrogateescape") for rel, _ in piece)
        if count:
            blob = b"\0" + blob
        f.write(blob)
        size += len(blob)
        count += len(piece)
        for _, entry in piece:
            mtimes.append(entry[2])
            sizes.append(entry[1])
            modes.append(KIND_BITS[entry[0]] | entry[3])
            kinds.append(KIND_BYTES[entry[0]])
    return count, size, [mtimes, sizes, modes, kinds]


def read(path: Path, mirrors: Mirrors) -> StatCache | None:
    """The cache, when it mirrors the index files of identities ``mirrors``; else None."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    try:
        return _parse(data, mirrors)
    except (ValueError, KeyError, TypeError) as exc:
        log.debug("ignoring the index's stat cache %s (%s)", path, exc)
        return None


def _json_mirrors(mirrors: Mirrors) -> list[Any]:
    return [None if m is None else list(m) for m in mirrors]


def _parse(data: bytes, mirrors: Mirrors) -> StatCache | None:
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 8:
        raise ValueError("not a stat cache")
    (length,) = struct.unpack("<Q", data[-8:])
    end = len(data) - 8 - length
    if end < len(MAGIC):
        raise ValueError("truncated")
    header = json.loads(data[end : len(data) - 8].decode("utf-8", "surrogateescape"))
    if not isinstance(header, dict) or header.get("mirrors") != _json_mirrors(mirrors):
        return None  # other index files' (or the same before another commit)
    if header.get("byteorder") != sys.byteorder:
        return None
    count, size = header["count"], header["paths_bytes"]
    if type(count) is not int or type(size) is not int or count < 0 or size < 0:
        raise ValueError("bad counts")
    at = len(MAGIC)
    blob, at = data[at : at + size], at + size
    columns = []
    for _ in range(3):
        column = array.array("q")
        column.frombytes(data[at : at + 8 * count])
        columns.append(column)
        at += 8 * count
    kinds = data[at:end]
    if len(blob) != size or len(kinds) != count or any(len(c) != count for c in columns):
        raise ValueError("truncated")
    if kinds.translate(None, b"fdl"):
        raise ValueError("unknown kind")
    paths = blob.split(b"\0") if count else []
    if len(paths) != count or _unsafe(blob):
        raise ValueError("bad paths")
    return StatCache(paths, columns[0], columns[1], columns[2], kinds, header)


def _unsafe(blob: bytes) -> bool:
    """Whether a NUL-joined path list may hold a path this index never wrote (the rules of
    :func:`pyodo_tasks.core.snapshot._unsafe_path`, which the JSON index is checked by)."""
    framed = b"\0" + blob + b"\0"
    return any(part in framed for part in _UNSAFE) or _dot_segment(framed, b"\0")
