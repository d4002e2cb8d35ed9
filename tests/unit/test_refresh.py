"""A push's refresh by stat (pyodo_tasks.core.refresh): what it looks at, and when it walks
the tree instead. That it equals the full walk is test_refresh_fuzz.py's property."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyodo_tasks.core import refresh
from pyodo_tasks.core.delivery import index_by_stat
from pyodo_tasks.core.rescan import Journal
from pyodo_tasks.core.snapshot import _UNSAFE_PATH, RACY_WINDOW_NS, _unsafe_path
from pyodo_tasks.errors import SyncError
from tests.unit.test_rescan import CountingIndex, make_tree

OLD = 1_600_000_000 * 10**9


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """test_rescan's tree, ``build/`` ignored too, committed; every mtime (the root's too)
    far outside the racy window."""
    root = make_tree(tmp_path / "tree")
    (root / ".gitignore").write_text("*.log\nbuild/\n")
    _age(root)
    _index(root).commit(_index(root).scan())
    return root


def _age(root: Path) -> None:
    for base, dirs, files in os.walk(root, topdown=False):
        for name in [*dirs, *files]:
            os.utime(os.path.join(base, name), ns=(OLD, OLD), follow_symlinks=False)
    os.utime(root, ns=(OLD, OLD))


def _index(root: Path) -> CountingIndex:
    return CountingIndex(root, state_dir=root.parent / "state")


def test_a_push_that_finds_nothing_changed_makes_no_row_of_the_index(tree: Path) -> None:
    index = _index(tree)
    changes, snapshot = refresh.changes(index)
    assert not changes and index.full_scans == 0
    loaded = index.load()
    assert loaded is not None and loaded._stat is not None  # read through the stat cache
    assert not snapshot._rows and not loaded._rows  # no row made, the JSON not even parsed
    assert snapshot.digest() == _index(tree).scan().digest()  # kept in the index file
    assert not loaded._rows
    assert dict(loaded.items()) == dict(_index(tree).scan().items())  # read when needed


def test_without_its_stat_cache_the_index_file_is_compared(tree: Path) -> None:
    index = _index(tree)
    index.files.stat_path.unlink()
    (tree / "src/app.py").write_text("edited")
    changes, _ = refresh.changes(index)
    assert changes.modified == ("src/app.py",) and index.full_scans == 0


def test_a_stat_cache_of_another_index_file_is_ignored(tree: Path) -> None:
    index = _index(tree)
    stale = index.files.stat_path.read_bytes()
    (tree / "top.txt").write_text("edited, pushed")
    _age(tree)
    index.files.log_limit = 0  # the whole file written again, and its own cache
    index.commit(refresh.changes(index)[1])
    index.files.stat_path.write_bytes(stale)  # ... the old one put back
    again = _index(tree)
    changes, _ = refresh.changes(again)
    assert not changes
    loaded = again.load()
    assert loaded is not None and loaded._stat is None and loaded["top.txt"].size == 14


def test_an_edit_is_found_without_listing_the_directories_it_did_not_touch(
    tree: Path,
) -> None:
    (tree / "src/app.py").write_text("edited")
    (tree / "docs/new.md").write_text("new")
    index = _index(tree)
    changes, snapshot = refresh.changes(index)
    assert (changes.modified, changes.created) == (("src/app.py",), ("docs/new.md",))
    assert index.full_scans == 0
    assert dict(snapshot.items()) == dict(_index(tree).scan().items())


def test_a_deleted_directory_takes_its_rows_with_it(tree: Path) -> None:
    for rel in ("src/lib/util.py", "src/lib"):
        path = tree / rel
        path.unlink() if path.is_file() else path.rmdir()
    changes, _ = refresh.changes(_index(tree))
    assert changes.deleted == ("src/lib", "src/lib/util.py")
    assert changes.to_delete() == ("src/lib",)


def test_an_ignored_directory_is_never_looked_at(tree: Path) -> None:
    (tree / "build").mkdir()
    _age(tree)  # build/ made and the root's mtime put back: the root is not even listed
    (tree / "build/out.bin").write_text("ignored")
    index = _index(tree)
    changes, _ = refresh.changes(index)
    assert not changes and index.full_scans == 0


def test_an_edited_ignore_file_means_the_full_walk(tree: Path) -> None:
    (tree / ".gitignore").write_text("*.log\n")
    index = _index(tree)
    refresh.changes(index)
    assert index.full_scans == 1


def test_an_ignore_file_that_ignores_itself_is_still_read_again(tree: Path) -> None:
    """It is in no row, so no stat of a row would show its edit."""
    (tree / "docs/.pyodoignore").write_text(".pyodoignore\n")
    index = _index(tree)
    index.commit(index.scan())
    (tree / "docs/.pyodoignore").write_text(".pyodoignore\nreadme.md\n")
    _age(tree)
    index = _index(tree)
    changes, _ = refresh.changes(index)
    assert changes.deleted == ("docs/readme.md",) and index.full_scans == 1


def test_an_index_written_without_the_roots_mtime_means_the_full_walk(tree: Path) -> None:
    """An older pyodo's index: the root's names cannot be trusted."""
    index = _index(tree)
    doc = json.loads(index.index_path.read_text())
    doc["root_mtime_ns"] = None
    index.index_path.write_text(json.dumps(doc))
    (tree / "new.txt").write_text("new")
    _age(tree)  # the root's mtime put back: only a listing finds new.txt
    changes, _ = refresh.changes(index)
    assert changes.created == ("new.txt",) and index.full_scans == 1


@pytest.mark.parametrize("rel", ["", "src"], ids=["root", "directory"])
def test_a_racy_directory_found_unchanged_is_committed_and_not_listed_again(
    tree: Path, rel: str
) -> None:
    """A directory changed within the racy window of the index's scan is listed again by the
    next refresh; found the same, that refresh commits it, and the one after trusts it."""
    index = _index(tree)
    first = index.load()
    assert first is not None
    racy = first.scanned_at_ns - RACY_WINDOW_NS + 300_000_000  # racy then, not 0.6 s later
    os.utime(tree / rel, ns=(racy, racy))
    index.commit(index.scan(previous=first))
    assert refresh._moved(index, index.load()) == (set(), {rel})
    time.sleep(0.6)
    changes, _ = refresh.changes(_index(tree))
    assert not changes and changes.commit_due
    assert refresh._moved(index, _index(tree).load()) == (set(), set())


@given(st.lists(st.text("./a\n\x00", max_size=6), min_size=1, max_size=6))
def test_the_unsafe_path_check_equals_a_regex_per_path(paths: list[str]) -> None:
    assert _unsafe_path(paths) == next(filter(_UNSAFE_PATH.search, paths), None)


@pytest.mark.parametrize("log_limit", [0.0, 100.0])  # the other commit: whole, or appended
def test_a_snapshot_loaded_before_another_process_committed_keeps_what_was_loaded(
    tree: Path, log_limit: float
) -> None:
    """Its rows are parsed when first needed, from the bytes read with the stat cache: doit's
    up-to-date check loads outside the sync lock, and another push (an xdist worker) may
    commit meanwhile; the rows must be the ones the cache mirrored."""
    before = _index(tree).scan()
    loaded = _index(tree).load()
    assert loaded is not None and not loaded._rows
    other = _index(tree)
    other.files.log_limit = log_limit
    other.load()
    (tree / "top.txt").write_text("another process pushed")
    other.commit(other.scan(previous=other.load()))
    assert dict(loaded.items()) == dict(before.items())


def test_an_index_that_does_not_parse_as_its_stat_cache_said_is_one_clear_error(
    tree: Path,
) -> None:
    index = _index(tree)
    files = index.files
    text = files.path.read_text()
    stat = files.path.stat()
    files.path.write_text(text.replace('"paths":[', '"paths":[7,', 1)[: len(text)])
    os.utime(files.path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the same identity
    loaded = index.load()
    assert loaded is not None
    with pytest.raises(SyncError, match=r"index\.json: the index does not parse"):
        len(loaded)


def test_a_push_after_an_edit_and_after_doit_dev_loads_through_the_stat_cache(
    tree: Path,
) -> None:
    """A push's commit appends to the log and writes the cache; doit dev's commits (a
    journal) leave it to the next load, which reads the JSON once and writes it."""
    index = _index(tree)
    index.files.log_limit = 100.0  # a log as long as that of a large tree
    (tree / "top.txt").write_text("edited")
    index.commit(refresh.changes(index)[1])
    assert index.log_path.exists()  # appended, not written whole
    loaded = _index(tree).load()
    assert loaded is not None and loaded._stat is not None
    assert loaded["top.txt"].size == len("edited")
    dev = _index(tree)
    dev.files.log_limit = 100.0
    dev.journal = Journal()
    (tree / "docs/readme.md").write_text("edited under doit dev")
    dev.commit(dev.journal.scan(dev, dev.load()))
    first, second = _index(tree).load(), _index(tree).load()
    assert first is not None and first._stat is None  # the JSON and its log, once
    assert second is not None and second._stat is not None
    assert dict(second.items()) == dict(first.items())


@pytest.mark.parametrize(
    ("environ", "expected"),
    [({}, True), ({"PYODO_INDEX": "stat"}, True), ({"PYODO_INDEX": " Walk "}, False)],
)
def test_pyodo_index_walk_turns_the_refresh_by_stat_off(
    environ: dict[str, str], expected: bool
) -> None:
    assert index_by_stat(environ) is expected
