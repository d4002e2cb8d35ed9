"""The file indexer: what a push has to send and delete, and which files it must leave alone."""

from __future__ import annotations

import gc
import io
import json
import logging
import os
import subprocess
import tarfile
import time
import weakref
from pathlib import Path

import pytest

import pyodo_tasks.core.index as index_mod
import pyodo_tasks.core.snapshot as snapshot_mod
from pyodo_tasks.core.index import Changes, Entry, FileIndex, Snapshot
from pyodo_tasks.core.tarball import build_tar
from pyodo_tasks.errors import SyncError

OLD = 1_600_000_000  # a mtime (seconds) far from "now", so entries are not racy


def write(root: Path, files: dict[str, str]) -> None:
    """Create files (parents as needed); a value of None makes a directory."""
    for rel, content in files.items():
        path = root / rel
        if content is None:
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)


def age(root: Path) -> None:
    """Backdate every mtime, like a checked-out tree that nobody is editing right now."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (OLD, OLD), follow_symlinks=False)


def push(idx: FileIndex) -> Changes:
    """What a real push does: diff, stream the tar (which records digests), then commit."""
    changes, snap = idx.changes()
    data = b"".join(build_tar(idx.root, changes.to_send(), snap))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getnames() == list(changes.to_send())
    idx.commit(snap)
    return changes


def indexed(root: Path, **kw: object) -> set[str]:
    return set(FileIndex(root, **kw).scan())  # type: ignore[arg-type]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    write(root, {"app.py": "print('hi')\n", "lib/util.py": "X = 1\n", "static": None})
    age(root)
    return root


# -- change detection -----------------------------------------------------------------------


def test_first_push_is_a_full_index_of_everything(tree: Path) -> None:
    changes = push(FileIndex(tree))
    assert changes.full
    assert changes.created == ("app.py", "lib", "lib/util.py", "static")
    assert changes.to_delete() == ()


def test_no_change_rescan_reports_nothing(tree: Path) -> None:
    idx = FileIndex(tree)
    push(idx)
    changes, _ = idx.changes()
    assert not changes
    assert changes == Changes()


def test_touching_a_file_without_changing_it_reports_nothing(tree: Path) -> None:
    idx = FileIndex(tree)
    push(idx)
    os.utime(tree / "app.py", (OLD + 100, OLD + 100))

    changes, _ = idx.changes()

    assert not changes
    assert changes.touched == ("app.py",)
    stored = idx.load()
    assert stored is not None
    assert stored["app.py"].mtime_ns == (OLD + 100) * 10**9  # committed, so no re-hash next time


def test_same_size_edit_with_new_mtime_is_modified(tree: Path) -> None:
    idx = FileIndex(tree)
    push(idx)
    (tree / "app.py").write_text("print('ho')\n")
    assert push(idx).modified == ("app.py",)


def test_size_change_is_decided_without_reading_content(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    idx = FileIndex(tree)
    push(idx)
    (tree / "app.py").write_text("print('a longer greeting')\n")
    monkeypatch.setattr(index_mod, "hash_file", _must_not_hash)
    changes, _ = idx.changes()
    assert changes.modified == ("app.py",)


def test_rewrite_within_the_same_mtime_tick_is_caught(tree: Path) -> None:
    """Racy git: same size and same mtime, but written right around the last scan."""
    idx = FileIndex(tree)
    target = tree / "app.py"
    target.write_text("print('hi')\n")  # fresh mtime: close to the coming scan
    push(idx)
    st = target.stat()
    target.write_text("print('yo')\n")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert push(idx).modified == ("app.py",)


def test_file_without_known_digest_is_resent_when_in_doubt(tree: Path) -> None:
    idx = FileIndex(tree)
    _, snap = idx.changes()
    idx.commit(snap)  # committed without a tar: no digests known
    os.utime(tree / "app.py", (OLD + 5, OLD + 5))
    changes, _ = idx.changes()
    assert changes.modified == ("app.py",)


def test_chmod_is_modified(tree: Path) -> None:
    idx = FileIndex(tree)
    push(idx)
    os.chmod(tree / "app.py", 0o755)
    assert push(idx).modified == ("app.py",)


def test_created_and_deleted_files_are_reported(tree: Path) -> None:
    idx = FileIndex(tree)
    push(idx)
    (tree / "lib" / "util.py").unlink()
    write(tree, {"lib/new.py": "brand new\n"})
    changes = push(idx)
    assert changes.created == ("lib/new.py",)
    assert changes.deleted == ("lib/util.py",)
    assert changes.modified == ()  # a directory's mtime alone is not a change


def test_failed_copy_resends_next_time(tree: Path) -> None:
    idx = FileIndex(tree)
    push(idx)
    (tree / "app.py").write_text("edited, but the copy fails\n")
    first, _ = idx.changes()  # no commit: the copy "failed"
    second, _ = idx.changes()
    assert first.modified == second.modified == ("app.py",)


def test_index_is_unchanged_until_commit(tree: Path) -> None:
    idx = FileIndex(tree)
    push(idx)
    before = idx.index_path.read_bytes()
    (tree / "new.txt").write_text("x")
    changes, snap = idx.changes()
    b"".join(build_tar(tree, changes.to_send(), snap))
    assert idx.index_path.read_bytes() == before
    idx.commit(snap)
    assert idx.index_path.read_bytes() != before


# -- renames --------------------------------------------------------------------------------


def test_rename_is_reported_once_not_as_delete_and_create(tree: Path) -> None:
    idx = FileIndex(tree)
    push(idx)
    (tree / "lib" / "util.py").rename(tree / "lib" / "helpers.py")
    changes = push(idx)
    assert changes.renamed == (("lib/util.py", "lib/helpers.py"),)
    assert (changes.created, changes.deleted, changes.modified) == ((), (), ())
    assert changes.to_send() == ("lib/helpers.py",)
    assert changes.to_delete() == ("lib/util.py",)


def test_move_into_new_directory_prefers_the_same_name(tmp_path: Path) -> None:
    write(tmp_path, {"a/x.txt": "same", "a/y.txt": "same"})
    idx = FileIndex(tmp_path)
    push(idx)
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "y.txt").rename(tmp_path / "b" / "y.txt")
    changes = push(idx)
    assert changes.renamed == (("a/y.txt", "b/y.txt"),)
    assert changes.created == ("b",)


def test_rename_detection_hashes_only_same_size_candidates(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    idx = FileIndex(tree)
    push(idx)
    (tree / "lib" / "util.py").unlink()
    write(tree, {"other_size.py": "a different size\n", "same_size.py": "Y = 2\n"})
    hashed: list[str] = []
    real = index_mod.hash_file

    def spy(path: str, expect: Entry | None = None) -> str | None:
        hashed.append(Path(path).name)
        return real(path, expect)

    monkeypatch.setattr(index_mod, "hash_file", spy)
    changes, _ = idx.changes()
    assert hashed == ["same_size.py"]
    assert changes.renamed == ()  # same size, other content: not a rename
    assert changes.deleted == ("lib/util.py",)


def test_edited_and_renamed_file_is_delete_and_create(tree: Path) -> None:
    idx = FileIndex(tree)
    push(idx)
    (tree / "app.py").rename(tree / "main.py")
    (tree / "main.py").write_text("changed on the way\n")
    changes = push(idx)
    assert (changes.created, changes.deleted, changes.renamed) == (("main.py",), ("app.py",), ())


# -- directories and links ------------------------------------------------------------------


def test_empty_directory_is_tracked(tree: Path) -> None:
    idx = FileIndex(tree)
    push(idx)
    (tree / "uploads").mkdir()
    assert push(idx).created == ("uploads",)


def test_deleted_directory_is_one_deletion(tree: Path) -> None:
    idx = FileIndex(tree)
    write(tree, {"lib/deep/a.py": "a", "lib/deep/b.py": "bb"})
    push(idx)
    for p in ("lib/deep/a.py", "lib/deep/b.py", "lib/util.py"):
        (tree / p).unlink()
    (tree / "lib" / "deep").rmdir()
    (tree / "lib").rmdir()
    changes = push(idx)
    assert set(changes.deleted) == {
        "lib",
        "lib/deep",
        "lib/deep/a.py",
        "lib/deep/b.py",
        "lib/util.py",
    }
    assert changes.to_delete() == ("lib",)


def test_file_replaced_by_directory_is_deleted_then_sent(tree: Path) -> None:
    idx = FileIndex(tree)
    push(idx)
    (tree / "app.py").unlink()
    write(tree, {"app.py/__init__.py": "pkg"})
    changes = push(idx)
    assert changes.to_delete() == ("app.py",)
    assert changes.to_send() == ("app.py", "app.py/__init__.py")


def test_symlinked_directory_is_a_link_and_not_entered(tree: Path, tmp_path: Path) -> None:
    write(tmp_path, {"elsewhere/secret.txt": "do not send"})
    (tree / "ext").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    snap = FileIndex(tree).scan()
    assert snap["ext"].kind == "link"
    assert snap["ext"].link_target == str(tmp_path / "elsewhere")
    assert not any(p.startswith("ext/") for p in snap)


def test_symlink_outside_tree_is_sent_as_link_not_followed(tree: Path) -> None:
    (tree / "passwd").symlink_to("/etc/passwd")
    idx = FileIndex(tree)
    changes, snap = idx.changes()
    data = b"".join(build_tar(tree, changes.to_send(), snap))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["passwd"].issym()
    assert members["passwd"].linkname == "/etc/passwd"
    assert members["passwd"].size == 0


def test_retargeted_link_is_modified(tree: Path) -> None:
    (tree / "cfg").symlink_to("app.py")
    idx = FileIndex(tree)
    push(idx)
    (tree / "cfg").unlink()
    (tree / "cfg").symlink_to("lib/util.py")
    assert push(idx).modified == ("cfg",)


# -- ignore rules ---------------------------------------------------------------------------


def test_gitignore_excludes_matching_files(tmp_path: Path) -> None:
    write(tmp_path, {".gitignore": "*.log\n", "a.log": "", "a.txt": ""})
    assert indexed(tmp_path) == {".gitignore", "a.txt"}


def test_nested_gitignore_applies_only_below_its_directory(tmp_path: Path) -> None:
    write(tmp_path, {"sub/.gitignore": "*.tmp\n/only-here.txt\n", "x.tmp": "", "sub/x.tmp": "",
                     "sub/deeper/x.tmp": "", "only-here.txt": "", "sub/only-here.txt": "",
                     "sub/deeper/only-here.txt": ""})  # fmt: skip
    assert indexed(tmp_path) == {
        "x.tmp", "only-here.txt", "sub", "sub/.gitignore", "sub/deeper",
        "sub/deeper/only-here.txt",
    }  # fmt: skip


def test_deeper_ignore_file_overrides_a_shallower_one(tmp_path: Path) -> None:
    write(tmp_path, {".gitignore": "*.gen\n", "docs/.gitignore": "!*.gen\n", "a.gen": "",
                     "docs/b.gen": ""})  # fmt: skip
    assert "docs/b.gen" in indexed(tmp_path)
    assert "a.gen" not in indexed(tmp_path)


def test_negated_pattern_reincludes_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        {".gitignore": "*.log\n!keep.log\n", "a.log": "", "keep.log": "", "d/keep.log": ""},
    )
    assert indexed(tmp_path) == {".gitignore", "keep.log", "d", "d/keep.log"}


def test_file_in_ignored_dir_cannot_be_reincluded(tmp_path: Path) -> None:
    write(
        tmp_path, {".gitignore": "build/\n!build/keep.txt\n", "build/keep.txt": "", "build/x.o": ""}
    )
    assert indexed(tmp_path) == {".gitignore"}


def test_ignored_directory_is_not_entered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, {".gitignore": "node_modules/\n", "node_modules/pkg/index.js": "", "a.js": ""})
    visited: list[str] = []
    real = os.scandir

    def spy(path: str) -> object:
        visited.append(os.path.relpath(path, tmp_path))
        return real(path)

    monkeypatch.setattr(index_mod.os, "scandir", spy)
    FileIndex(tmp_path).scan()
    assert visited == ["."]


def test_directory_only_pattern_does_not_match_files_or_links(tmp_path: Path) -> None:
    write(tmp_path, {".gitignore": "out/\n", "out/a": "", "src/out": "", "lib/real": None})
    (tmp_path / "lib" / "out").symlink_to("real")
    assert indexed(tmp_path) == {".gitignore", "src", "src/out", "lib", "lib/real", "lib/out"}


def test_anchored_pattern_matches_only_at_its_root(tmp_path: Path) -> None:
    write(tmp_path, {".gitignore": "/config.yaml\n", "config.yaml": "", "sub/config.yaml": ""})
    assert indexed(tmp_path) == {".gitignore", "sub", "sub/config.yaml"}


def test_pyodoignore_overrides_gitignore_in_the_same_directory(tmp_path: Path) -> None:
    write(tmp_path, {".gitignore": "dist/\n*.md\n", ".pyodoignore": "!dist/\n", "dist/app.js": "",
                     "README.md": ""})  # fmt: skip
    assert indexed(tmp_path) == {".gitignore", ".pyodoignore", "dist", "dist/app.js"}


def test_extra_ignores_apply_from_the_root_with_lowest_precedence(tmp_path: Path) -> None:
    write(tmp_path, {".gitignore": "!important.tmp\n", "a.tmp": "", "important.tmp": "",
                     "s/b.tmp": "", "tests/t.py": ""})  # fmt: skip
    found = indexed(tmp_path, extra_ignores=["*.tmp", "/tests/"])
    assert found == {".gitignore", "important.tmp", "s"}


def test_git_and_pyodo_dirs_are_always_skipped(tmp_path: Path) -> None:
    write(tmp_path, {".git/HEAD": "", ".pyodo/index.json": "{}", "sub/.git": "gitdir: x", "a": ""})
    assert indexed(tmp_path) == {"a", "sub"}


def test_newly_ignored_file_is_deleted_from_the_container(tree: Path) -> None:
    idx = FileIndex(tree)
    push(idx)
    write(tree, {".pyodoignore": "static/\n"})
    changes = push(idx)
    assert changes.created == (".pyodoignore",)
    assert changes.deleted == ("static",)


# -- the ignore rules agree with git ---------------------------------------------------------

GIT_TREE = [
    "a.log", "b.txt", "keep.log", "x.LOG", "#hash.txt", "a1.txt", "ab.txt", "lib.a", "lib.o",
    "build/out.o", "build/keep.txt", "lib/build", "src/build/gen.py", "src/main.py",
    "src/app.log", "src/util.py", "src/sub/deep.log", "src/sub/keep.log", "docs/guide.md",
    "docs/api/index.html", "docs/api/x.tmp", "docs/api/v1/ref.md", "logs/a.log", "logs/b.txt",
    "node_modules/pkg/index.js", "node_modules/pkg/README.md", "foo/bar/baz.txt", "foo/qux.txt",
    "with space.txt", "trailing.txt",
]  # fmt: skip

GIT_CASES = {
    "glob": {".gitignore": "*.log\n"},
    "negation": {".gitignore": "*.log\n!keep.log\n"},
    "no_reinclude_in_ignored_dir": {".gitignore": "build/\n!build/keep.txt\n"},
    "name_matches_files_and_dirs": {".gitignore": "build\n"},
    "dir_only": {".gitignore": "build/\n"},
    "anchored": {".gitignore": "/build\n"},
    "middle_slash_is_anchored": {".gitignore": "src/*.log\n"},
    "double_star": {".gitignore": "**/sub/*.log\ndocs/**/*.md\n"},
    "reinclude_dir_contents": {".gitignore": "/*\n!/src/\n!/docs/\ndocs/api/*\n!docs/api/v1/\n"},
    "file_match_beats_dir_negation": {".gitignore": "*.log\n!logs/\n"},
    "nested_files": {".gitignore": "*.txt\n", "src/.gitignore": "*.py\n!main.py\n",
                     "foo/.gitignore": "!*.txt\n/bar/\n"},
    "star_then_negated_subdir": {".gitignore": "foo/*\n!foo/bar\n"},
    "ranges_escapes_and_wildcards": {".gitignore": "\\#hash.txt\n*.[oa]\na?.txt\n"},
    "node_modules_with_negation": {".gitignore": "node_modules\n!node_modules/pkg/README.md\n"},
    "trailing_spaces_and_comments": {".gitignore": "# c\ntrailing.txt   \nwith\\ space.txt\n"},
    "case_sensitive": {".gitignore": "*.LOG\n"},
    "nested_anchored_dir": {"src/.gitignore": "/build/\nsub/keep.log\n"},
}  # fmt: skip


def _git_files(root: Path) -> set[str]:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", str(root)], check=True, env=env)
    out = subprocess.run(
        ["git", "-C", str(root), "-c", f"core.excludesFile={os.devnull}", "ls-files",
         "--others", "--exclude-standard", "-z"],
        check=True, capture_output=True, env=env,
    ).stdout  # fmt: skip
    return {p for p in out.decode().split("\0") if p}


@pytest.mark.parametrize("case", sorted(GIT_CASES))
def test_ignore_rules_match_git(tmp_path: Path, case: str) -> None:
    root = tmp_path / "repo"
    write(root, dict.fromkeys(GIT_TREE, "x"))
    write(root, GIT_CASES[case])
    (root / "lib" / "link_to_build").symlink_to("../build", target_is_directory=True)
    ours = {p for p, e in FileIndex(root).scan().items() if e.kind != "dir"}
    assert ours == _git_files(root)


# -- persistence ----------------------------------------------------------------------------


def test_corrupt_index_falls_back_to_full_index(
    tree: Path, caplog: pytest.LogCaptureFixture
) -> None:
    idx = FileIndex(tree)
    push(idx)
    idx.index_path.write_text('{"version": 2, "paths": ["a"], "kind": ["file"], "size": ["big"')
    with caplog.at_level(logging.WARNING, logger="pyodo_tasks.core.index"):
        changes, _ = idx.changes()
    assert changes.full
    assert "full index" in caplog.text


def _columns(paths: list[object], **columns: list[object]) -> str:
    """An index file of ``paths`` (plain files unless ``columns`` say otherwise)."""
    plain = {"kind": "file", "size": 0, "mtime_ns": 0, "mode": 0o644, "digest": None}
    doc: dict[str, object] = {"version": 3, "scanned_at_ns": 0, "paths": paths}
    for name in (*plain, "link_target"):
        doc[name] = columns.get(name, [plain.get(name)] * len(paths))
    return json.dumps(doc)


@pytest.mark.parametrize(
    "content",
    [
        '{"version": 99, "paths": []}',
        '{"version": 1, "files": {"a": ["file", 0, 0, 0, null, null]}}',
        "[]",
        _columns(["a"], kind=["pipe"]),
        _columns(["../etc/passwd"]),
        _columns(["a", "b//c"]),
        _columns(["a"], kind=["link"]),
        _columns(["a"], link_target=["x"]),
        _columns(["a"], size=["big"]),
        _columns(["a"], digest=[7]),
        _columns(["a"], mode=[]),
        _columns(["a"], mode=[0o100644]),
        _columns(["a", 7]),
    ],
)
def test_unknown_version_or_shape_falls_back_to_full_index(
    tree: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    idx = FileIndex(tree)
    idx.state_dir.mkdir()
    idx.index_path.write_text(content)
    with caplog.at_level(logging.WARNING):
        assert idx.load() is None
    assert caplog.records


def test_commit_writes_atomically_and_leaves_no_temp_files(tree: Path) -> None:
    idx = FileIndex(tree)
    push(idx)
    names = sorted(p.name for p in idx.state_dir.iterdir())
    assert names == [".gitignore", "index.json", "index.stat"]  # the stat cache beside it
    assert json.loads(idx.index_path.read_text())["version"] == index_mod.FORMAT_VERSION


def test_keyed_indexes_are_independent(tree: Path) -> None:
    cluster_a = FileIndex(tree, key="kind-dev/default")
    cluster_b = FileIndex(tree, key="prod")
    assert cluster_a.index_path != cluster_b.index_path
    assert "/" not in cluster_a.index_path.name
    push(cluster_a)
    assert cluster_b.changes()[0].full
    assert not cluster_a.changes()[0]


def test_state_dir_outside_the_root(tree: Path, tmp_path: Path) -> None:
    idx = FileIndex(tree, state_dir=tmp_path / "state")
    push(idx)
    assert (tmp_path / "state" / "index.json").exists()
    assert not (tree / ".pyodo").exists()


def test_state_dir_inside_the_root_is_not_indexed(tree: Path) -> None:
    idx = FileIndex(tree, state_dir=tree / "var" / "pyodo-state")
    push(idx)
    assert not any(p.startswith("var/pyodo-state") for p in idx.scan())


def test_snapshot_json_round_trip(tree: Path) -> None:
    (tree / "ln").symlink_to("app.py")
    idx = FileIndex(tree)
    push(idx)
    snap = idx.load()
    assert snap is not None
    again = Snapshot.from_json(snap.to_json())
    assert dict(again) == dict(snap)
    assert again.scanned_at_ns == snap.scanned_at_ns


def test_index_text_and_digest_do_not_depend_on_the_piece_size(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written and hashed a slice of rows at a time (bounded memory on a 1M-path tree), the
    text is still one JSON document, and both are what the whole would give."""
    (tree / "ln").symlink_to("app.py")
    snap = FileIndex(tree).scan()
    whole_digest = snap.digest()  # first: the text holds it (the index keeps the sum)
    whole_text = snap.to_json()
    doc = json.loads(whole_text)
    assert doc["paths"] == sorted(snap)
    assert doc["link_target"][doc["paths"].index("ln")] == "app.py"
    monkeypatch.setattr(snapshot_mod, "_JSON_SLICE", 2)
    again = FileIndex(tree).scan(previous=snap)
    assert len(list(again.json_pieces())) > 2 * len(snap) // 2
    assert again.digest() == whole_digest
    again.scanned_at_ns = snap.scanned_at_ns
    assert again.to_json() == whole_text


def test_load_hands_back_the_committed_snapshot_until_another_commit(tree: Path) -> None:
    """doit dev syncs again and again: the index file is parsed once, not at every sync, and
    a commit by another process (another pyodo, a doit push) is read afresh."""
    idx = FileIndex(tree)
    push(idx)
    snap = idx.load()
    assert snap is not None
    assert idx.load() is snap
    assert snap._base is None  # the committed snapshot does not keep the scans before it alive
    other = FileIndex(tree)
    (tree / "new.txt").write_text("new")
    push(other)
    theirs, mine = other.load(), idx.load()
    assert mine is not None and theirs is not None
    assert mine is not snap and mine is not theirs
    assert dict(mine) == dict(theirs)
    assert idx.load() is mine
    idx.index_path.unlink()
    assert idx.load() is None


def test_rescans_do_not_keep_the_snapshots_before_them_alive(tree: Path) -> None:
    """doit dev rescans against its last scan after every save; each scan only needs its
    direct predecessor while it is diffed, so a long session does not grow with its saves."""
    idx = FileIndex(tree)
    first = idx.scan()
    gone = weakref.ref(first)
    second = idx.scan(previous=first)
    third = idx.scan(previous=second)
    assert idx.diff(second, third) == Changes()
    del first, second
    gc.collect()
    assert gone() is None
    (tree / "app.py").write_text("changed")
    assert idx.diff(third, idx.scan(previous=third)).modified == ("app.py",)


def test_snapshot_digest_is_stable_and_ignores_content_digests(tree: Path) -> None:
    idx = FileIndex(tree)
    one, two = idx.scan(), idx.scan()
    assert one.digest() == two.digest()
    b"".join(build_tar(tree, list(one), one))  # fills in content digests
    assert one.digest() == two.digest()
    (tree / "new").write_text("")
    assert idx.scan().digest() != one.digest()


def test_missing_source_directory_is_a_sync_error(tmp_path: Path) -> None:
    with pytest.raises(SyncError, match="cannot read the source directory"):
        FileIndex(tmp_path / "nope").scan()


def test_changes_from_an_empty_tree_are_falsy(tmp_path: Path) -> None:
    changes = FileIndex(tmp_path).changes()[0]
    assert changes.full
    assert not changes


def _must_not_hash(*args: object, **kwargs: object) -> str:
    raise AssertionError(f"hashed {args}")


def test_scan_of_a_large_tree_is_reasonably_fast(tmp_path: Path) -> None:
    """A smoke guard against accidental quadratic behaviour, not a benchmark."""
    write(tmp_path, {f"d{i % 20}/f{i}.txt": "x" for i in range(2000)})
    write(tmp_path, {".gitignore": "*.log\n!keep.log\nbuild/\n"})
    started = time.perf_counter()
    assert len(FileIndex(tmp_path).scan()) == 2021
    assert time.perf_counter() - started < 10


@pytest.mark.parametrize("case", sorted(GIT_CASES))
def test_quick_pattern_filter_never_changes_the_verdict(case: str) -> None:
    """The union-regex shortcut must agree with ``GitIgnoreSpec`` on every path and dir form."""
    paths = set(GIT_TREE)
    for path in GIT_TREE:
        parts = path.split("/")
        paths.update("/".join(parts[:i]) + "/" for i in range(1, len(parts)))
    for content in GIT_CASES[case].values():
        rules = index_mod._Rules(content.splitlines())
        assert rules.any is not None
        for path in sorted(paths):
            assert rules.decide(path) == rules.spec.check_file(path).include, path


# -- re-scanning against the previous snapshot ----------------------------------------------


def test_rescan_carries_unchanged_entries_over_and_finds_the_one_edit(tree: Path) -> None:
    idx = FileIndex(tree)
    push(idx)
    old = idx.load()
    assert old is not None
    (tree / "lib" / "util.py").write_text("X = 2\n")  # same size, new mtime
    new = idx.scan(previous=old)
    assert new["app.py"] == old["app.py"]
    assert idx.diff(old, new).modified == ("lib/util.py",)


def test_rescan_sees_a_new_ignore_pattern_drop_a_file_it_held(tree: Path) -> None:
    idx = FileIndex(tree)
    push(idx)
    (tree / "lib" / ".gitignore").write_text("util.py\n")
    changes, _ = idx.changes()
    assert changes.deleted == ("lib/util.py",)
    assert changes.created == ("lib/.gitignore",)


def test_rescan_sees_a_self_ignoring_ignore_file_removed(tree: Path) -> None:
    write(tree, {".pyodoignore": ".pyodoignore\nsecret.txt\n", "secret.txt": "s"})
    idx = FileIndex(tree)
    push(idx)
    assert "secret.txt" not in idx.scan()
    (tree / ".pyodoignore").unlink()
    changes, _ = idx.changes()
    assert changes.created == ("secret.txt",)


def test_rescan_with_other_extra_ignores_matches_every_path_again(tree: Path) -> None:
    push(FileIndex(tree))
    changes, _ = FileIndex(tree, extra_ignores=["*.py"]).changes()
    assert changes.deleted == ("app.py", "lib/util.py")


def test_rescan_sees_a_file_become_a_directory_and_a_link(tree: Path) -> None:
    idx = FileIndex(tree)
    push(idx)
    (tree / "app.py").unlink()
    write(tree, {"app.py/inner.py": ""})
    (tree / "static").rmdir()
    (tree / "static").symlink_to("lib")
    changes, new = idx.changes()
    assert set(changes.to_delete()) == {"app.py", "static"}
    assert set(changes.to_send()) == {"app.py", "app.py/inner.py", "static"}
    assert new["static"].link_target == "lib"


def test_index_written_under_other_rules_is_committed_again_on_a_no_op(tree: Path) -> None:
    idx = FileIndex(tree)
    push(idx)
    doc = json.loads(idx.index_path.read_text())
    doc["rules"] = None  # as an index whose rules this pyodo cannot know
    idx.index_path.write_text(json.dumps(doc))
    changes, _ = idx.changes()
    assert not changes and changes.commit_due
    assert json.loads(idx.index_path.read_text())["rules"] == idx.rules_key


def test_dev_loop_rescan_of_its_last_scan_keeps_the_same_digest(tree: Path) -> None:
    idx = FileIndex(tree)
    first = idx.scan()
    again = idx.scan(previous=first)
    assert again.digest() == first.digest()
    (tree / "new.py").write_text("")
    assert idx.scan(previous=again).digest() != first.digest()
