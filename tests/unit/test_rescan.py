"""The rescan of named paths (pyodo_tasks.core.rescan): when it looks only at them, and when it
falls back to the full scan. That it equals the full scan is test_rescan_fuzz.py's property."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pyodo_tasks.core.index import FileIndex, Snapshot
from pyodo_tasks.core.rescan import MAX_PATHS, LiveTree, rescan

OLD = 1_600_000_000 * 10**9


class CountingIndex(FileIndex):
    """A real index that counts its full scans."""

    full_scans = 0

    def scan(self, previous: Snapshot | None = None) -> Snapshot:
        self.full_scans += 1
        return super().scan(previous)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    for rel in ("src/app.py", "src/lib/util.py", "docs/readme.md", "top.txt"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    (root / ".gitignore").write_text("*.log\n")
    for base, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            os.utime(os.path.join(base, name), ns=(OLD, OLD))
    return root


def _live(root: Path) -> tuple[CountingIndex, LiveTree]:
    index = CountingIndex(root, state_dir=root.parent / "state")
    live = LiveTree(index)
    live.scan()
    index.full_scans = 0
    return index, live


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


def test_falls_back_when_the_previous_snapshot_was_loaded_or_committed(tree: Path) -> None:
    index = CountingIndex(tree, state_dir=tree.parent / "state")
    index.commit(index.scan())
    for previous in (index.load(), Snapshot.from_json(index.load().to_json())):  # type: ignore[union-attr]
        index.full_scans = 0
        rescan(index, previous, ["top.txt"])
        assert index.full_scans == 1


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
