"""The index's stat cache: a binary copy of what a push's refresh compares with the disk.

Why: a push that finds nothing changed (:mod:`.refresh`) compares every indexed path's stat
with the index. Parsed from the JSON index file, 100k paths cost ~0.1 s of Python objects
(strings, ints, checks) before the first ``lstat``, which put the refresh at 1.7 times
``git status``. This file holds only those columns, as git's own index is a binary stat cache:
the paths NUL-joined (UTF-8, bytes for ``os.lstat``), and mtime, size and full ``st_mode`` as
arrays of 64-bit integers that load as one copy each. Loading it costs ~10 ms on 100k paths.

It is a cache, never the truth: written after each full index file (:mod:`.indexfiles`),
naming that file's identity (inode, size, mtime); read only while that file is the one on
disk and no log record follows it. Anything else (another file, a log, a torn or foreign
cache) means it is ignored and the JSON index is read, as before it existed.

Layout: :data:`MAGIC`, one line of JSON (the header: which file it mirrors, the snapshot's
fields, the sections' sizes), then the paths, the three arrays and one kind byte per path.
"""

from __future__ import annotations

import array
import json
import logging
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["MAGIC", "StatCache", "read", "write"]

log = logging.getLogger(__name__)

MAGIC = b"pyodo-stat-cache 1\n"
#: Kind -> its byte in the file, and the file-type bits of ``st_mode`` it stands for.
KIND_BYTES = {"file": ord("f"), "dir": ord("d"), "link": ord("l")}
KIND_BITS = {"file": 0o100000, "dir": 0o040000, "link": 0o120000}
#: NUL-framed forms of a path this index never wrote (absolute, trailing slash, empty,
#: ``//``); ``.``/``..`` segments are looked for separately (:func:`_dot_segment`).
_UNSAFE = (b"\0/", b"/\0", b"\0\0", b"//")


@dataclass(frozen=True)
class StatCache:
    """A full index file's paths and stat columns, and its snapshot's fields (``header``)."""

    paths: list[bytes]
    mtimes: array.array[int]
    sizes: array.array[int]
    modes: array.array[int]  # st_mode as the disk gives it: type bits and permissions
    kinds: bytes  # one of KIND_BYTES per path
    header: dict[str, Any]


def write(path: Path, mirrors: tuple[int, int, int], header: dict[str, Any], rows: Any) -> None:
    """Write the cache of a full index file (identity ``mirrors``). ``rows``: the snapshot's
    ``(path, entry)`` pairs in the file's order; ``header``: its fields. Failures are logged,
    not raised: without the cache a push reads the JSON index, as it always could."""
    paths: list[bytes] = []
    mtimes, sizes, modes = array.array("q"), array.array("q"), array.array("q")
    kinds = bytearray()
    for rel, entry in rows:
        paths.append(rel.encode("utf-8", "surrogateescape"))
        mtimes.append(entry[2])
        sizes.append(entry[1])
        modes.append(KIND_BITS[entry[0]] | entry[3])
        kinds.append(KIND_BYTES[entry[0]])
    blob = b"\0".join(paths)
    head = {
        **header,
        "mirrors": list(mirrors),
        "count": len(paths),
        "paths_bytes": len(blob),
        "byteorder": sys.byteorder,
    }
    line = json.dumps(head, separators=(",", ":")).encode("utf-8", "surrogateescape") + b"\n"
    try:
        fd, tmp = tempfile.mkstemp(prefix=".stat-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.writelines([MAGIC, line, blob, mtimes, sizes, modes, kinds])
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.warning("cannot write the index's stat cache %s (%s)", path, exc)


def read(path: Path, mirrors: tuple[int, int, int]) -> StatCache | None:
    """The cache, when it mirrors the full index file of identity ``mirrors``; else None."""
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


def _parse(data: bytes, mirrors: tuple[int, int, int]) -> StatCache | None:
    if not data.startswith(MAGIC):
        raise ValueError("not a stat cache")
    end = data.index(b"\n", len(MAGIC))
    header = json.loads(data[len(MAGIC) : end].decode("utf-8", "surrogateescape"))
    if not isinstance(header, dict) or header.get("mirrors") != list(mirrors):
        return None  # another index file's
    if header.get("byteorder") != sys.byteorder:
        return None
    count, size = header["count"], header["paths_bytes"]
    if type(count) is not int or type(size) is not int or count < 0 or size < 0:
        raise ValueError("bad counts")
    at = end + 1
    blob, at = data[at : at + size], at + size
    columns = []
    for _ in range(3):
        column = array.array("q")
        column.frombytes(data[at : at + 8 * count])
        columns.append(column)
        at += 8 * count
    kinds = data[at:]
    if len(blob) != size or len(kinds) != count or any(len(c) != count for c in columns):
        raise ValueError("truncated")
    if kinds.translate(None, b"fdl"):
        raise ValueError("unknown kind")
    paths = blob.split(b"\0") if count else []
    if len(paths) != count or _unsafe(blob):
        raise ValueError("bad paths")
    return StatCache(paths, columns[0], columns[1], columns[2], kinds, header)


def _unsafe(blob: bytes) -> bool:
    """Whether a NUL-joined path list may hold a path this index never wrote (see
    :func:`pyodo_tasks.core.snapshot._unsafe_path`, which the JSON index is checked by)."""
    framed = b"\0" + blob + b"\0"
    if any(part in framed for part in _UNSAFE):
        return True
    for start in (b"\0.", b"/."):
        at = framed.find(start)
        while at != -1:
            rest = framed[at + 2 : at + 4]
            if rest[:1] in (b"\0", b"/") or rest in (b".\0", b"./"):
                return True
            at = framed.find(start, at + 2)
    return False
