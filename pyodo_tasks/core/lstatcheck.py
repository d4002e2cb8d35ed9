"""The comparison :mod:`.lstats` runs on each half of the paths: in the push's process, and as
the helper's script (``python -I -S lstatcheck.py``).

One copy of the code for both, so it imports only modules built into the interpreter (a
shared library such as ``array`` cost the helper 7 ms to start): nothing of pyodo's, no
``typing``. The helper's protocol: on stdin, :mod:`marshal`'s ``(prefix, NUL-joined paths,
mtimes, sizes, modes, racy_from)``, the three columns as native int64 bytes; on stdout,
marshal's ``{position: stat}`` of what :func:`compare` finds.
"""

from __future__ import annotations

import marshal
import os
import sys
from _operator import attrgetter, ne
from itertools import compress

TYPE_CHECKING = False
if TYPE_CHECKING:  # mypy only: importing typing would slow the helper's start
    from collections.abc import Sequence
    from typing import Any

#: What is compared of each path, in this order.
_STAT = attrgetter("st_mtime_ns", "st_size", "st_mode")
#: The stat of a path that is gone or cannot be stat-ed: equal to no row, and no directory.
GONE = (-1, -1, 0)


def compare(
    prefix: Any, paths: Sequence[Any], want: Sequence[Sequence[int]], racy_from: int
) -> dict[int, tuple[int, int, int]]:
    """``{position: (st_mtime_ns, st_size, st_mode)}`` of each path whose ``lstat`` differs
    from ``want``'s columns, or whose wanted mtime is racy: the stats in one C loop (unless a
    path fails), each stat result dropped as soon as it is read, compared a column at a time."""
    now = _stat_all(prefix, paths)
    mtimes, sizes, modes = want
    odd = set(compress(range(len(now)), map(ne, now, zip(mtimes, sizes, modes, strict=True))))
    if now and max(mtimes) >= racy_from:
        odd.update(compress(range(len(now)), map(racy_from.__le__, mtimes)))
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


def _main() -> None:
    prefix, blob, *columns, racy_from = marshal.loads(sys.stdin.buffer.read())
    want = [memoryview(column).cast("q") for column in columns]
    found = compare(prefix, blob.split(b"\0"), want, racy_from)
    sys.stdout.buffer.write(marshal.dumps(found))


if __name__ == "__main__":
    _main()
