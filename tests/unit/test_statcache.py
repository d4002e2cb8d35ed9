"""The index's stat cache (pyodo_tasks.core.statcache): what it holds, and that anything but the
cache of the file on disk is ignored rather than trusted."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyodo_tasks.core import statcache
from pyodo_tasks.core.snapshot import Entry

MIRRORS = ((7, 1234, 1_700_000_000_000_000_000), None)  # the full file's, no log
ROWS = [
    ("src", Entry("dir", 0, 10, 0o755)),
    ("src/app.py", Entry("file", 12, 11, 0o644, "d" * 32)),
    ("src/l\udcff", Entry("link", 0, 12, 0o777, None, "app.py")),  # a name that is not UTF-8
    *((f"many/f{i}", Entry("file", i, 13 + i, 0o600)) for i in range(5000)),
]


def _written(tmp_path: Path, rows: list[tuple[str, Entry]] = ROWS) -> Path:
    path = tmp_path / "index.stat"
    statcache.write(path, MIRRORS, {"version": 3, "log": "abc"}, rows)
    return path


def test_the_cache_holds_each_rows_path_and_stat_as_lstat_gives_them(tmp_path: Path) -> None:
    cache = statcache.read(_written(tmp_path), MIRRORS)
    assert cache is not None and cache.header["log"] == "abc"
    assert cache.paths[:3] == [b"src", b"src/app.py", b"src/l\xff"]
    assert list(cache.modes[:3]) == [0o040755, 0o100644, 0o120777]
    assert (list(cache.mtimes[:3]), list(cache.sizes[:3])) == ([10, 11, 12], [0, 12, 0])
    assert cache.kinds[:3] == b"dfl" and len(cache.paths) == len(ROWS)


def test_a_cache_of_another_index_file_is_ignored(tmp_path: Path) -> None:
    path = _written(tmp_path)
    assert statcache.read(path, ((8, 1234, MIRRORS[0][2]), None)) is None
    assert statcache.read(path, (MIRRORS[0], (9, 320, 1))) is None  # a log appended since


def test_a_cache_cut_anywhere_is_ignored(tmp_path: Path) -> None:
    data = _written(tmp_path, ROWS[:40]).read_bytes()
    for cut in range(len(data)):
        (tmp_path / "cut.stat").write_bytes(data[:cut])
        assert statcache.read(tmp_path / "cut.stat", MIRRORS) is None, cut


@pytest.mark.parametrize("bad", ["/etc/passwd", "a//b", "a/../../b", "a/", ".", "x/./y"])
def test_a_cache_naming_a_path_outside_the_tree_is_ignored(tmp_path: Path, bad: str) -> None:
    path = _written(tmp_path, [*ROWS[:2], (bad, Entry("file", 1, 1, 0o644))])
    assert statcache.read(path, MIRRORS) is None
