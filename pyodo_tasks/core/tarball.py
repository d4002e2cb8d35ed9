"""The copy payload: one tar stream of the changed paths, and the argv that removes deleted ones.

:func:`build_tar` returns a *generator of byte chunks* rather than ``bytes`` or a file: the exec
API writes stdin in frames anyway, so the copy loop can send each chunk as it is produced.
Memory stays at about one chunk however big the tree (a 500 MB first push is never held in
memory, let alone twice), and an aborted copy stops reading files at once.

While streaming, the tar writer hashes each file's bytes and records in the snapshot the stat
and digest of exactly what it sent. Committing that snapshot after the copy succeeded therefore
describes the container's copy, even if a file changed between the scan and the copy; files
that changed *while* being read are marked stale so the next push sends them again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from pyodo_tasks.core.index import Entry, Snapshot
from pyodo_tasks.errors import SyncError

__all__ = ["ARGV_BUDGET", "build_tar", "delete_argv"]

log = logging.getLogger(__name__)

#: Bytes of argv per ``rm`` call. Far below Linux's ARG_MAX (2 MiB) on purpose: through the
#: Kubernetes exec API each argument travels percent-encoded in the request URL, and API
#: servers and proxies cap request lines long before ARG_MAX.
ARGV_BUDGET = 32 * 1024
_CHUNK = 1 << 20
_RM = ("rm", "-rf", "--")
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def build_tar(
    root: Path, paths: Iterable[str], snapshot: Snapshot, *, chunk_size: int = _CHUNK
) -> Iterator[bytes]:
    """An uncompressed PAX tar of exactly ``paths`` (not recursive), as chunks of bytes.

    Files keep their permission bits and mtime (whole seconds: a fractional mtime would cost an
    extra PAX header per file), links stay links, directories are bare entries. Owner is
    root:root (uid/gid 0), so the archive extracts for any user. Paths are validated here,
    before the first chunk, and must be in ``snapshot``: :class:`SyncError` otherwise.
    Apply deletions before extracting (see :class:`pyodo_tasks.core.index.Changes`).
    """
    names = _checked_relative(paths)
    missing = [n for n in names if n not in snapshot]
    if missing:
        raise SyncError(f"{missing[0]}: not in the index snapshot; scan again before copying")
    return _stream(Path(root), names, snapshot, max(chunk_size, tarfile.BLOCKSIZE))


def delete_argv(
    target_dir: str, paths: Iterable[str], *, budget: int = ARGV_BUDGET
) -> list[list[str]]:
    """``rm -rf -- <target_dir>/<path> ...`` argvs removing ``paths`` in as few calls as fit.

    Usually one argv; several when the paths exceed ``budget`` bytes; none for no paths.
    Every path is checked to stay under ``target_dir`` (:class:`SyncError` otherwise).
    """
    target = posixpath.normpath(target_dir) if target_dir else ""
    if not target.startswith("/") or target in ("/", "//") or "\0" in target:
        raise SyncError(f"target directory {target_dir!r} must be an absolute path other than /")
    base_cost = sum(len(arg) + 1 for arg in _RM)
    argvs: list[list[str]] = []
    argv, cost = list(_RM), base_cost
    for name in _checked_relative(paths):
        full = f"{target}/{name}"
        size = len(full.encode("utf-8", "surrogateescape")) + 1
        if len(argv) > len(_RM) and cost + size > budget:
            argvs.append(argv)
            argv, cost = list(_RM), base_cost
        argv.append(full)
        cost += size
    if len(argv) > len(_RM):
        argvs.append(argv)
    return argvs


def _checked_relative(paths: Iterable[str]) -> list[str]:
    """Sorted, de-duplicated relative POSIX paths; :class:`SyncError` for anything that could
    name something outside the root (absolute, ``..``, empty or ``.`` segments, NUL)."""
    names = set()
    for path in paths:
        if not isinstance(path, str) or not path or path.startswith("/") or "\0" in path:
            raise SyncError(f"{path!r}: not a relative path inside the source tree")
        if any(part in ("", ".", "..") for part in path.split("/")):
            raise SyncError(f"{path!r}: path escapes or is not normalized (., .., //)")
        names.add(path)
    return sorted(names)  # parents sort right before their contents


def _stream(root: Path, names: list[str], snapshot: Snapshot, chunk_size: int) -> Iterator[bytes]:
    buf = bytearray()
    checked_dirs = _ParentCheck(root)
    for name in names:
        checked_dirs.verify(name)
        for piece in _member(root, name, snapshot, chunk_size):
            buf += piece
            if len(buf) >= chunk_size:
                yield bytes(buf)
                buf.clear()
    buf += b"\0" * (2 * tarfile.BLOCKSIZE)  # end-of-archive marker
    buf += b"\0" * (-len(buf) % tarfile.RECORDSIZE)  # pad the last record, as tar(1) does
    yield bytes(buf)


class _ParentCheck:
    """Refuses a path whose parent directory resolves outside the root (a directory swapped for a
    symlink after the scan would otherwise let a file from elsewhere into the tar)."""

    def __init__(self, root: Path) -> None:
        self.root = os.path.realpath(root)
        self.ok: set[str] = {""}

    def verify(self, name: str) -> None:
        parent = posixpath.dirname(name)
        if parent in self.ok:
            return
        expected = os.path.join(self.root, *parent.split("/"))
        if os.path.realpath(expected) != expected:
            raise SyncError(f"{name}: its directory {parent} is a link or leads outside the root")
        self.ok.add(parent)


def _member(root: Path, name: str, snapshot: Snapshot, chunk_size: int) -> Iterator[bytes]:
    """Header and data blocks for one path; records in ``snapshot`` what was actually sent."""
    path = os.path.join(root, name)
    expected = snapshot[name]
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        log.info("%s vanished before the copy; it will be removed on the next push", name)
        snapshot.record(name, _stale(expected))
        return
    info = tarfile.TarInfo(name)
    info.mode, info.mtime = stat.S_IMODE(st.st_mode), st.st_mtime_ns // 1_000_000_000
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if stat.S_ISDIR(st.st_mode) and expected.kind == "dir":
        info.type = tarfile.DIRTYPE
        snapshot.record(name, Entry("dir", 0, st.st_mtime_ns, info.mode))
        yield _header(info)
    elif stat.S_ISLNK(st.st_mode) and expected.kind == "link":
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
        snapshot.record(name, Entry("link", 0, st.st_mtime_ns, info.mode, None, info.linkname))
        yield _header(info)
    elif stat.S_ISREG(st.st_mode) and expected.kind == "file":
        yield from _file_member(path, name, info, snapshot, chunk_size)
    else:
        log.info("%s changed kind since the scan; it will be re-sent on the next push", name)
        snapshot.record(name, _stale(expected))


def _file_member(
    path: str, name: str, info: tarfile.TarInfo, snapshot: Snapshot, chunk_size: int
) -> Iterator[bytes]:
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise SyncError(f"{name}: cannot read for the copy: {exc}") from exc
    with os.fdopen(fd, "rb") as f:
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):  # swapped for something else since lstat
            snapshot.record(name, _stale(snapshot[name]))
            return
        info.size = remaining = before.st_size
        info.mode, info.mtime = stat.S_IMODE(before.st_mode), before.st_mtime_ns // 1_000_000_000
        yield _header(info)
        h = hashlib.blake2b(digest_size=16)
        while remaining:
            data = f.read(min(chunk_size, remaining))
            if not data:
                break
            h.update(data)
            remaining -= len(data)
            yield data
        after = os.fstat(fd)
    if remaining:  # it shrank while being read: keep the archive well-formed
        yield b"\0" * remaining
    yield b"\0" * (-info.size % tarfile.BLOCKSIZE)
    consistent = not remaining and (before.st_size, before.st_mtime_ns) == (
        after.st_size,
        after.st_mtime_ns,
    )
    entry = Entry("file", before.st_size, before.st_mtime_ns, info.mode, h.hexdigest())
    if not consistent:
        log.info("%s changed while being copied; it will be re-sent on the next push", name)
    snapshot.record(name, entry if consistent else _stale(entry))


def _header(info: tarfile.TarInfo) -> bytes:
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")


def _stale(entry: Entry) -> Entry:
    return entry._replace(size=-1, digest=None)
