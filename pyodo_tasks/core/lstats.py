"""Which of many paths moved since their stat was recorded: half of them checked in a helper
process on a second core when there are many.

``git status`` stats its index in threads (``core.preloadIndex``): on 100k files it spends
about what a push's refresh spends on CPU, in two thirds of the wall time. Python threads do
not help (the GIL changes hands at every ``lstat``: two threads were measured slower than one),
and forking a process that may hold threads (``doit dev``'s, the Kubernetes client's) is unsafe.
So a fresh interpreter of pyodo's own Python (``python -I -S``: no site, no environment, only
built-in modules; ~10 ms to start) is given the second half of the paths with their recorded
columns, stats and compares them, and answers only the few that differ, while this process
does the first half. Sending back every stat instead (and importing ``array`` in the helper)
cost about 0.1 s more CPU on 100k paths.

It is only an accelerator: below :data:`SPLIT_FROM` paths, on one core, or when the helper
cannot start, fails or does not answer within its bound, every path is checked here, and the
answer is the same either way.
"""

from __future__ import annotations

import itertools
import logging
import marshal
import operator
import os
import subprocess
import sys
import tempfile
from array import array
from collections.abc import Sequence
from typing import Any

__all__ = ["GONE", "SPLIT_FROM", "moved"]

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

#: The helper: on stdin, marshal's ``(prefix, NUL-joined paths, mtimes, sizes, modes,
#: racy_from)``, the columns as native int64 bytes; on stdout, marshal's ``{position: stat}``
#: of what :func:`_compare` finds. The same code as this module's, in built-in modules only.
_HELPER = """\
import marshal, os, sys
from _operator import attrgetter, ne
from itertools import compress
prefix, blob, mtimes, sizes, modes, racy_from = marshal.loads(sys.stdin.buffer.read())
paths = blob.split(b"\\0")
mtimes, sizes, modes = (memoryview(c).cast("q") for c in (mtimes, sizes, modes))
get = attrgetter("st_mtime_ns", "st_size", "st_mode")
def one(path):
    try:
        return get(os.lstat(path))
    except OSError:
        return (-1, -1, 0)
try:
    now = list(map(get, map(os.lstat, map(prefix.__add__, paths))))
except OSError:
    now = [one(prefix + path) for path in paths]
odd = set(compress(range(len(now)), map(ne, now, zip(mtimes, sizes, modes, strict=True))))
if now and max(mtimes) >= racy_from:
    odd.update(compress(range(len(now)), map(racy_from.__le__, mtimes)))
sys.stdout.buffer.write(marshal.dumps({i: now[i] for i in odd}))
"""


def moved(
    prefix: Any, paths: Sequence[Any], want: Sequence[Sequence[int]], racy_from: int
) -> dict[int, tuple[int, int, int]]:
    """``{position: (st_mtime_ns, st_size, st_mode)}`` of each path (``prefix + path``, both
    ``str`` or both ``bytes``) whose ``lstat`` differs from ``want``'s three columns (mtime,
    size, mode; :data:`GONE` for a path that failed), or whose wanted mtime is at or after
    ``racy_from`` (too close to when it was recorded to prove anything)."""
    count = len(paths)
    if count < SPLIT_FROM or _cpus() < 2:
        return _compare(prefix, paths, want, racy_from)
    half = count // 2
    helper = _Helper.start(prefix, paths[half:], [c[half:] for c in want], racy_from)
    if helper is None:
        return _compare(prefix, paths, want, racy_from)
    try:
        found = _compare(prefix, paths[:half], [c[:half] for c in want], racy_from)
    except BaseException:  # Ctrl-C: the helper is not left to finish on its own
        helper.stop()
        raise
    theirs = helper.result(count - half)
    if theirs is None:
        theirs = _compare(prefix, paths[half:], [c[half:] for c in want], racy_from)
    found.update({half + i: stat for i, stat in theirs.items()})
    return found


def _compare(
    prefix: Any, paths: Sequence[Any], want: Sequence[Sequence[int]], racy_from: int
) -> dict[int, tuple[int, int, int]]:
    """:func:`moved` here: the stats in one C loop (unless a path fails), each stat result
    dropped as soon as it is read, compared a column at a time."""
    now = _stat_all(prefix, paths)
    mtimes, sizes, modes = want
    odd = set(
        itertools.compress(
            range(len(now)), map(operator.ne, now, zip(mtimes, sizes, modes, strict=True))
        )
    )
    if now and max(mtimes) >= racy_from:
        odd.update(itertools.compress(range(len(now)), map(racy_from.__le__, mtimes)))
    return {i: now[i] for i in odd}


def _stat_all(prefix: Any, paths: Sequence[Any]) -> list[tuple[int, int, int]]:
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
    """The helper process. Its input goes through an unnamed temporary file, not a pipe: a
    pipe holds 64 KiB and the helper reads only once started, so this process would wait out
    its start before checking its own half."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc

    @classmethod
    def start(
        cls, prefix: Any, paths: Sequence[Any], want: Sequence[Sequence[int]], racy_from: int
    ) -> _Helper | None:
        sep = b"\0" if isinstance(prefix, bytes) else "\0"
        try:
            columns = [
                c.tobytes() if isinstance(c, array) else array("q", c).tobytes() for c in want
            ]
            feed = marshal.dumps(
                (os.fsencode(prefix), os.fsencode(sep.join(paths)), *columns, racy_from)
            )
        except (OverflowError, TypeError) as exc:  # a column that is not int64: check here
            log.debug("lstat helper not used: %s", exc)
            return None
        try:
            with tempfile.TemporaryFile() as stdin:
                stdin.write(feed)
                stdin.seek(0)
                proc = subprocess.Popen(
                    [sys.executable, "-I", "-S", "-c", _HELPER],
                    stdin=stdin,
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

    def result(self, count: int) -> dict[int, tuple[int, int, int]] | None:
        """What it found among its ``count`` paths, or None (logged) when it failed or
        overran its bound."""
        try:
            out, _ = self.proc.communicate(timeout=_HELPER_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.stop()
            log.debug("lstat helper overran %.0f s: checking here", _HELPER_TIMEOUT)
            return None
        try:
            found = marshal.loads(out) if self.proc.returncode == 0 else None
        except (EOFError, ValueError, TypeError):
            found = None
        if type(found) is not dict or not all(_is_stat(i, s, count) for i, s in found.items()):
            log.debug("lstat helper failed (rc %s): checking here", self.proc.returncode)
            return None
        return found


def _is_stat(position: Any, stat: Any, count: int) -> bool:
    return (
        type(position) is int
        and 0 <= position < count
        and type(stat) is tuple
        and len(stat) == 3
        and all(type(v) is int for v in stat)
    )
