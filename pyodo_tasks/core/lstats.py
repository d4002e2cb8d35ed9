"""Which of many paths moved since their stat was recorded: half of them checked in a helper
process on a second core when there are many.

``git status`` stats its index in threads (``core.preloadIndex``): on 100k files it spends
about what a push's refresh spends on CPU, in two thirds of the wall time. Python threads do
not help (the GIL changes hands at every ``lstat``: two threads were measured slower than one),
and forking a process that may hold threads (``doit dev``'s, the Kubernetes client's) is unsafe.
So a fresh interpreter of pyodo's own Python (``python -I -S``: no site, no environment; it
runs :mod:`.lstatcheck`, which imports only built-in modules; ~10 ms to start) is given the
second half of the paths with their recorded columns, stats and compares them with the same
code this process runs on the first half, and answers only the few that differ. Sending back
every stat instead (and importing ``array`` in the helper) cost about 0.1 s more CPU on 100k
paths.

It is only an accelerator: below :data:`SPLIT_FROM` paths, on one core, or when the helper
cannot start, fails or does not answer within its bound, every path is checked here, and the
answer is the same either way.
"""

from __future__ import annotations

import logging
import marshal
import os
import subprocess
import sys
import tempfile
from array import array
from collections.abc import Sequence
from typing import Any

from pyodo_tasks.core.lstatcheck import GONE, compare

__all__ = ["GONE", "SPLIT_FROM", "moved"]

log = logging.getLogger(__name__)

#: From this many paths the helper is clearly worth its start (~15 ms of CPU, about 5k
#: paths' stats): at 20k it took 0.057 s of wall time instead of ~0.07, for 0.016 s more CPU.
SPLIT_FROM = 40_000
#: The helper's bound: far above its work (1M paths: ~2 s), below any user's patience.
_HELPER_TIMEOUT = 120.0

#: The helper's script: :mod:`.lstatcheck`, whose :func:`compare` this process runs too.
_HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lstatcheck.py")


def moved(
    prefix: Any, paths: Sequence[Any], want: Sequence[Sequence[int]], racy_from: int
) -> dict[int, tuple[int, int, int]]:
    """``{position: (st_mtime_ns, st_size, st_mode)}`` of each path (``prefix + path``, both
    ``str`` or both ``bytes``) whose ``lstat`` differs from ``want``'s three columns (mtime,
    size, mode; :data:`GONE` for a path that failed), or whose wanted mtime is at or after
    ``racy_from`` (too close to when it was recorded to prove anything)."""
    count = len(paths)
    if count < SPLIT_FROM or _cpus() < 2:
        return compare(prefix, paths, want, racy_from)
    half = count // 2
    helper = _Helper.start(prefix, paths[half:], [c[half:] for c in want], racy_from)
    if helper is None:
        return compare(prefix, paths, want, racy_from)
    try:
        found = compare(prefix, paths[:half], [c[:half] for c in want], racy_from)
    except BaseException:  # Ctrl-C: the helper is not left to finish on its own
        helper.stop()
        raise
    theirs = helper.result(count - half)
    if theirs is None:
        theirs = compare(prefix, paths[half:], [c[half:] for c in want], racy_from)
    found.update({half + i: stat for i, stat in theirs.items()})
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
                    [sys.executable, "-I", "-S", _HELPER],
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
