"""The ``lstat`` of many paths, the second half of them in a helper process on a second core.

``git status`` stats its index in threads (``core.preloadIndex``): on 100k files it spends
about what a push's refresh spends on CPU, in two thirds of the wall time. Python threads do
not help (the GIL changes hands at every ``lstat``: two threads were measured slower than one),
and forking a process that may hold threads (``doit dev``'s, the Kubernetes client's) is unsafe.
So a fresh interpreter (``python -I -S``: no site, no environment; about 10 ms to start) is
given the second half of the paths on its stdin and writes back their stat columns, while this
process stats the first half.

It is only an accelerator: below :data:`SPLIT_FROM` paths, on one core, or when the helper
cannot start, fails or does not answer within its bound, the paths are stat-ed here, and the
result is the same list either way.
"""

from __future__ import annotations

import logging
import operator
import os
import subprocess
import sys
import tempfile
from array import array
from collections.abc import Sequence
from typing import Any

__all__ = ["GONE", "SPLIT_FROM", "lstat_all"]

log = logging.getLogger(__name__)

#: What is compared of each path, in this order.
_STAT = operator.attrgetter("st_mtime_ns", "st_size", "st_mode")
#: The stat of a path that is gone or cannot be stat-ed: equal to no row, and no directory.
GONE = (-1, -1, 0)
#: From this many paths the helper is clearly worth its start (~15 ms of CPU, about 5k
#: paths' stats): at 20k it took 0.057 s of wall time instead of ~0.07, for 0.016 s more CPU.
SPLIT_FROM = 40_000
#: The helper's bound: far above its work (1M paths: ~2 s), below any user's patience.
_HELPER_TIMEOUT = 120.0

#: The helper: the prefix and the paths NUL-joined on stdin; the int64 columns of each path's
#: ``(st_mtime_ns, st_size, st_mode)`` on stdout, a path after another. The same loop as below.
_HELPER = """\
import itertools, operator, os, sys
from array import array
prefix, *paths = sys.stdin.buffer.read().split(b"\\0")
get = operator.attrgetter("st_mtime_ns", "st_size", "st_mode")
def one(path):
    try:
        return get(os.lstat(path))
    except OSError:
        return (-1, -1, 0)
try:
    rows = list(map(get, map(os.lstat, map(prefix.__add__, paths))))
except OSError:
    rows = [one(prefix + path) for path in paths]
sys.stdout.buffer.write(array("q", itertools.chain.from_iterable(rows)).tobytes())
"""


def lstat_all(prefix: Any, paths: Sequence[Any]) -> list[tuple[int, int, int]]:
    """``(st_mtime_ns, st_size, st_mode)`` of the ``lstat`` of ``prefix + path`` for each path
    (``str`` or ``bytes``, as ``prefix``), :data:`GONE` where it fails."""
    half = len(paths) // 2
    if len(paths) < SPLIT_FROM or _cpus() < 2:
        return _here(prefix, paths)
    helper = _Helper.start(prefix, paths[half:])
    if helper is None:
        return _here(prefix, paths)
    try:
        found = _here(prefix, paths[:half])
    except BaseException:  # Ctrl-C: the helper is not left to finish on its own
        helper.stop()
        raise
    theirs = helper.result(len(paths) - half)
    found += theirs if theirs is not None else _here(prefix, paths[half:])
    return found


def _here(prefix: Any, paths: Sequence[Any]) -> list[tuple[int, int, int]]:
    """One C loop (unless a path fails), each stat result dropped as soon as it is read."""
    try:
        return list(map(_STAT, map(os.lstat, map(prefix.__add__, paths))))
    except OSError:
        pass
    found: list[tuple[int, int, int]] = []
    for path in paths:
        try:
            found.append(_STAT(os.lstat(prefix + path)))
        except OSError:
            found.append(GONE)
    return found


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


class _Helper:
    """The helper process. Its paths go through an unnamed temporary file, not a pipe: a pipe
    holds 64 KiB and the helper reads only once started, so this process would wait out its
    start before stat-ing its own half."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc

    @classmethod
    def start(cls, prefix: Any, paths: Sequence[Any]) -> _Helper | None:
        sep = b"\0" if isinstance(prefix, bytes) else "\0"
        try:
            with tempfile.TemporaryFile() as feed:
                feed.write(os.fsencode(sep.join((prefix, *paths))))
                feed.seek(0)
                proc = subprocess.Popen(
                    [sys.executable, "-I", "-S", "-c", _HELPER],
                    stdin=feed,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )
        except OSError as exc:  # no interpreter at sys.executable (embedded), no space
            log.debug("lstat helper did not start: %s", exc)
            return None
        return cls(proc)

    def stop(self) -> None:
        """Killed and reaped (its pipe drained: nothing else holds it)."""
        self.proc.kill()
        self.proc.communicate()

    def result(self, count: int) -> list[tuple[int, int, int]] | None:
        """Its ``count`` stats, or None (logged) when it failed or overran its bound."""
        try:
            out, _ = self.proc.communicate(timeout=_HELPER_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.stop()
            log.debug("lstat helper overran %.0f s: stat-ing here", _HELPER_TIMEOUT)
            return None
        columns = array("q")
        if self.proc.returncode != 0 or len(out) != count * 3 * columns.itemsize:
            log.debug("lstat helper failed (rc %s): stat-ing here", self.proc.returncode)
            return None
        columns.frombytes(out)
        return list(zip(columns[0::3], columns[1::3], columns[2::3], strict=True))
