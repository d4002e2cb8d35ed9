"""An append-only log of checksummed JSON records, for the file index's changes between full
writes (:meth:`.index.FileIndex.commit`).

Why: ``doit dev`` commits the index after every sync, and writing the whole index file cost
0.13-0.16 s on 100k paths and ten times that on 1M, for an edit of one file. A record of the
rows that changed is appended instead, and the whole file is written again only when the log
has grown past a fraction of it.

One record a line: ``<length> <crc32> <json>\\n``, the length and CRC-32 (both hexadecimal) of
the JSON's bytes. A record is appended with one ``write`` and ``fsync``-ed, so a process killed
mid-append, or a crash that leaves zeros or garbage at the end of the file, leaves a *torn*
tail: a line without its newline, a length or checksum that does not match. Reading stops at
the first such line: the records before it are the state last committed in full, and the
caller learns that the log is not clean (it writes the whole index next time rather than
appending after the garbage). Every record names the full index file it extends (``base``):
a log left behind by a crash between writing a new full index and removing the old log is
recognised as stale by its first record.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["LogRead", "append", "encode", "read"]


def encode(record: Mapping[str, Any]) -> bytes:
    """One record's line (``record`` must hold ``base``, the full file it extends)."""
    body = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8", "surrogateescape"
    )
    return b"%x %08x " % (len(body), zlib.crc32(body)) + body + b"\n"


@dataclass(frozen=True)
class LogRead:
    """What :func:`read` found: the whole records of ``base``, in order, and whether the file
    held nothing else (``clean``: safe to append to). ``problem`` says why it is not."""

    records: list[dict[str, Any]]
    size: int
    clean: bool
    problem: str = ""


def read(data: bytes, base: str) -> LogRead:
    """The records of ``data`` (a log file's bytes) that extend ``base``, up to the first torn,
    corrupt or foreign one."""
    records: list[dict[str, Any]] = []
    at = 0
    while at < len(data):
        end = data.find(b"\n", at)
        if end < 0:
            return LogRead(records, len(data), False, f"a torn record at byte {at}")
        found = _record(data[at:end])
        if found is None:
            return LogRead(records, len(data), False, f"a corrupt record at byte {at}")
        if found.get("base") != base:
            return LogRead(records, len(data), False, f"a record of another index at byte {at}")
        records.append(found)
        at = end + 1
    return LogRead(records, len(data), True)


def _record(line: bytes) -> dict[str, Any] | None:
    """The JSON object of one line, or None when its length or checksum does not match."""
    head = line.split(b" ", 2)
    if len(head) != 3:
        return None
    length, crc, body = head
    try:
        if int(length, 16) != len(body) or int(crc, 16) != zlib.crc32(body):
            return None
        found = json.loads(body.decode("utf-8", "surrogateescape"))
    except ValueError:  # a bad number, bad JSON (a checksum collision): not a record
        return None
    return found if isinstance(found, dict) else None


def append(path: Path, line: bytes) -> os.stat_result:
    """Append one :func:`encode`-d record to ``path`` (made if missing) in one write, and
    ``fsync`` it; the file's stat after it."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # as the full file
    try:
        view = memoryview(line)
        while view:  # one write for a regular file; a short one is continued, never lost
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        return os.fstat(fd)
    finally:
        os.close(fd)
