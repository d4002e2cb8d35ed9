"""The rescan of named paths (pyodo_tasks.core.rescan): when it looks only at them, and when it
falls back to the full scan. That it equals the full scan is test_rescan_fuzz.py's property."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from pyodo_tasks.core.index import FileIndex, Snapshot
from pyodo_tasks.core.rescan import MAX_PATHS, Journal, LiveTree, rescan
from pyodo_tasks.core.tarball import build_tar

OLD = 1_600_000_000 * 10**9


class CountingIndex(FileIndex):
    """A real index that counts its full scans."""

    full_scans = 0

    def scan(self, previous: Snapshot | None = None, **kw: Any) -> Snapshot:
        self.full_scans += 1
        return super().scan(previous, **kw)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "tree")


def make_tree(root: Path) -> Path:
    """A few files and directories, a ``.gitignore``, every mtime far in the past."""
    for rel in ("src/app.py", "src/lib/util.py", "docs/readme.md", "top.txt"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    (root / ".gitignore").write_text("*.log\n")
    for base, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            os.utime(os.path.join(base, name), ns=(OLD, OLD))
    return root


def _counted(index: CountingIndex) -> CountingIndex:
    index.full_scans = 0
    return index


def _live(root: Path) -> tuple[CountingIndex, LiveTree]:
    live = LiveTree(CountingIndex(root, state_dir=root.parent / "state"))
    live.scan()
    return _counted(live.index), live  # type: ignore[arg-type]


def test_a_rescan_looks_only_at_the_named_paths(tree: Path) -> None:
    index, live = _live(tree)
    (tree / "src/app.py").write_text("changed")
    (tree / "docs/new.md").write_text("not named")
    after = live.update(["src/app.py"])
    assert index.full_scans == 0
    assert after["src/app.py"].size == len("changed")
    assert "docs/new.md" not in after  # unnamed: a rescan does not see it


def test_a_new_file_in_a_new_directory_named_by_its_directory_only_is_found(tree: Path) -> None:
    index, live = _live(tree)
    (tree / "src/new/deeper").mkdir(parents=True)
    (tree / "src/new/deeper/x.py").write_text("x")
    (tree / "src/new/skip.log").write_text("ignored")
    after = live.update(["src/new"])
    assert index.full_scans == 0
    assert {"src/new", "src/new/deeper", "src/new/deeper/x.py"} <= set(after)
    assert "src/new/skip.log" not in after


def test_a_removed_directory_takes_its_subtree(tree: Path) -> None:
    index, live = _live(tree)
    shutil.rmtree(tree / "src")
    after = live.update(["src"])
    assert index.full_scans == 0
    assert not [p for p in after if p == "src" or p.startswith("src/")]


@pytest.mark.parametrize(
    "named",
    [
        pytest.param(None, id="paths-unknown"),
        pytest.param([".gitignore"], id="an-ignore-file"),
        pytest.param(["src/.pyodoignore"], id="a-nested-ignore-file"),
        pytest.param([""], id="the-root"),
        pytest.param([f"f{i}" for i in range(MAX_PATHS + 1)], id="too-many-paths"),
    ],
)
def test_falls_back_to_the_full_scan(tree: Path, named: list[str] | None) -> None:
    index, live = _live(tree)
    (tree / "docs/new.md").write_text("found by the full scan")
    after = live.update(named)
    assert index.full_scans == 1
    assert "docs/new.md" in after


def test_falls_back_when_the_previous_snapshot_was_read_from_the_index_file(tree: Path) -> None:
    index = CountingIndex(tree, state_dir=tree.parent / "state")
    index.commit(index.scan())
    loaded = FileIndex(tree, state_dir=tree.parent / "state").load()
    index.full_scans = 0
    rescan(index, loaded, ["top.txt"])
    assert index.full_scans == 1


def test_a_committed_snapshot_is_rescanned_like_a_full_scan(tree: Path) -> None:
    index = CountingIndex(tree, state_dir=tree.parent / "state")
    index.commit(index.scan())
    committed = index.load()
    (tree / "src/app.py").write_text("edited within the racy window")
    index.full_scans = 0
    after = rescan(index, committed, ["src/app.py"])
    assert index.full_scans == 0
    assert dict(after.items()) == dict(index.scan(previous=committed).items())


def _journaled(tree: Path) -> tuple[CountingIndex, Journal]:
    """An index whose syncs go through a journal, its first snapshot committed."""
    index = CountingIndex(tree, state_dir=tree.parent / "state")
    journal = index.journal = Journal()
    index.commit(journal.scan(index, index.load()))
    return _counted(index), journal


def test_a_sync_after_a_commit_rescans_only_the_noted_paths(tree: Path) -> None:
    """... and the directories whose names moved (docs/ gets a file): every directory row
    then holds an mtime the directory was listed at, which is what a push's refresh trusts
    (:mod:`pyodo_tasks.core.refresh`)."""
    index, journal = _journaled(tree)
    (tree / "top.txt").write_text("noted")
    (tree / "src/app.py").write_text("not noted, and its directory's names unchanged")
    (tree / "docs/new.md").write_text("not noted, but docs/ moved")
    journal.note(["top.txt"])
    old = index.load()
    new = journal.scan(index, old)
    assert index.full_scans == 0
    assert new["src/app.py"] == old["src/app.py"]
    assert index.diff(old, new).modified == ("top.txt",)
    assert index.diff(old, new).created == ("docs/new.md",)


def test_paths_noted_before_a_sync_that_did_not_commit_are_rescanned_again(tree: Path) -> None:
    index, journal = _journaled(tree)
    (tree / "top.txt").write_text("noted")
    journal.note(["top.txt"])
    journal.scan(index, index.load())  # the copy failed: nothing committed
    again = journal.scan(index, index.load())
    assert index.full_scans == 0
    assert again["top.txt"].size == len("noted")


def test_paths_noted_while_a_sync_runs_are_rescanned_by_the_next(tree: Path) -> None:
    index, journal = _journaled(tree)
    synced = journal.scan(index, index.load())
    (tree / "top.txt").write_text("saved during the sync")
    journal.note(["top.txt"])
    index.commit(synced)
    after = journal.scan(index, index.load())
    assert index.full_scans == 0
    assert after["top.txt"].size == len("saved during the sync")


@pytest.mark.parametrize("why", ["watcher-lost-track", "commit-of-another-scan"])
def test_the_next_sync_is_a_full_scan_when_the_journal_cannot_say(tree: Path, why: str) -> None:
    index, journal = _journaled(tree)
    (tree / "docs/new.md").write_text("not noted")
    if why == "watcher-lost-track":
        journal.note(None)
    else:
        index.commit(index.scan(previous=index.load()))
        index.full_scans = 0
    after = journal.scan(index, index.load())
    assert index.full_scans == 1
    assert "docs/new.md" in after


def test_falls_back_when_the_rules_differ(tree: Path) -> None:
    previous = FileIndex(tree, state_dir=tree.parent / "state").scan()
    other = CountingIndex(tree, state_dir=tree.parent / "state", extra_ignores=["*.md"])
    after = rescan(other, previous, ["top.txt"])
    assert other.full_scans == 1
    assert "docs/readme.md" not in after


def test_a_named_path_whose_directory_became_a_file_is_rescanned_from_above(tree: Path) -> None:
    index, live = _live(tree)
    shutil.rmtree(tree / "src/lib")
    (tree / "src/lib").write_text("now a file")  # rescanned from src
    after = live.update(["src/lib/util.py"])
    assert index.full_scans == 0
    assert after["src/lib"].kind == "file"
    assert "src/lib/util.py" not in after


def test_the_running_digest_follows_the_tree_back_and_forth(tree: Path) -> None:
    _, live = _live(tree)
    first = live.digest()
    (tree / "top.txt").write_text("other")
    live.update(["top.txt"])
    assert live.digest() != first
    (tree / "top.txt").write_text("top.txt")
    os.utime(tree / "top.txt", ns=(OLD, OLD))
    live.update(["top.txt"])
    assert live.digest() == first


def test_a_first_sync_rescans_from_the_client_tree_and_shares_its_rows(tree: Path) -> None:
    """doit dev's controller has no committed snapshot at its first sync: it rescans from the
    client's tree and the paths noted since it, and holds the same path strings and rows
    instead of a second copy of the tree."""
    index = CountingIndex(tree, state_dir=tree.parent / "state")
    journal = Journal()
    live = LiveTree(index, journal)
    client = live.scan()
    (tree / "top.txt").write_text("saved after the client's scan")
    journal.note(["top.txt"])
    index.full_scans = 0
    synced = journal.scan(index, None)
    assert index.full_scans == 0
    assert synced["top.txt"].size == len("saved after the client's scan")
    same = [p for p in client if p != "top.txt"]
    assert all(synced._entries[p] is client._entries[p] for p in same)
    keys = {id(k) for k in client._entries}
    assert {id(k) for k in synced._entries if k != "top.txt"} <= keys


def test_a_first_sync_walks_when_the_client_tree_cannot_say(tree: Path) -> None:
    index = CountingIndex(tree, state_dir=tree.parent / "state")
    journal = Journal()
    client = LiveTree(index, journal).scan()
    journal.note(None)  # the watcher lost track since
    index.full_scans = 0
    synced = journal.scan(index, None)
    assert index.full_scans == 1
    assert all(synced._entries[p] is client._entries[p] for p in client)  # walked from it
    assert {id(k) for k in synced._entries} == {id(k) for k in client._entries}


def test_a_full_scan_of_the_live_tree_keeps_its_path_strings(tree: Path) -> None:
    """The client scans the whole tree again once its watch is installed: the new snapshot
    holds the old one's path strings (the syncs' snapshots share them), not new copies."""
    live = LiveTree(FileIndex(tree, state_dir=tree.parent / "state"))
    first = live.scan()
    (tree / "new.txt").write_text("new")
    second = live.scan()
    assert {id(k) for k in second._entries if k != "new.txt"} == {id(k) for k in first._entries}
    assert "new.txt" in second


def test_the_client_tree_takes_its_rows_from_a_committed_sync(tree: Path) -> None:
    """After a sync commits, the client's next rescan starts from the committed snapshot and
    what was noted since its scan began: the tree then holds the synced rows, not its own."""
    index = FileIndex(tree, state_dir=tree.parent / "state")
    journal = index.journal = Journal()
    live = LiveTree(index, journal)
    live.scan()
    index.commit(journal.scan(index, None))
    committed = index.load()
    assert committed is not None
    (tree / "top.txt").write_text("saved after the sync")
    journal.note(["top.txt"])
    after = live.update(["top.txt"])
    assert after["top.txt"].size == len("saved after the sync")
    assert all(after._entries[p] is committed._entries[p] for p in after if p != "top.txt")
    assert after.digest() == index.scan().digest()


def test_the_first_scan_of_a_pushed_tree_shares_the_committed_indexs_rows_and_strings(
    tree: Path,
) -> None:
    """doit dev started on a pushed tree: its client's first scan carries the committed index's
    rows and path strings, so the first sync's diff against that index adds no second copy."""
    pushed = CountingIndex(tree, state_dir=tree.parent / "state")
    pushed.commit(pushed.scan())
    index = CountingIndex(tree, state_dir=tree.parent / "state")  # a new process
    live = LiveTree(index)
    snapshot = live.scan()
    loaded = index.load()
    assert loaded is not None and snapshot._base is not None and snapshot._base() is loaded
    assert all(snapshot._entries[p] is row for p, row in loaded._entries.items())
    strings = {id(path) for path in loaded._entries}
    assert all(id(path) in strings for path in snapshot._entries)


def test_doit_devs_first_sync_on_a_pushed_tree_commits_so_the_first_edit_appends(
    tree: Path,
) -> None:
    """doit dev started on a pushed tree: its first sync rescans from the client's tree and
    finds nothing to send; committing that snapshot then (a whole-file write while doit dev
    starts) lets the first edit's commit append one record to the log instead of writing the
    whole index (seconds on 1M paths)."""
    pushed = FileIndex(tree, state_dir=tree.parent / "state")
    pushed.commit(pushed.scan())
    index = FileIndex(tree, state_dir=tree.parent / "state")  # doit dev's process
    index.files.log_limit = 100.0  # a small tree's record is large beside its index
    journal = index.journal = Journal()
    live = LiveTree(index, journal)
    live.scan()
    old = index.load()
    first = journal.scan(index, old)
    changes = index.diff(old, first)
    assert not changes and changes.commit_due
    index.commit(first)
    written = index.index_path.stat()
    (tree / "top.txt").write_text("saved while doit dev runs")
    journal.note(["top.txt"])
    live.update(["top.txt"])
    old = index.load()
    synced = journal.scan(index, old)
    changes = index.diff(old, synced)
    assert changes.modified == ("top.txt",)
    b"".join(build_tar(tree, changes.to_send(), synced))  # what the sync sends, recorded
    index.commit(synced)
    now = index.index_path.stat()
    assert (now.st_ino, now.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)  # appended
    assert FileIndex(tree, state_dir=tree.parent / "state").load()["top.txt"].size == 25
