"""The copy payload: the tar extracts to exactly the sender's tree, with any tar, as any user."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from pyodo_tasks.core.index import Entry, FileIndex, Snapshot
from pyodo_tasks.core.tarball import build_tar, delete_argv
from pyodo_tasks.errors import SyncError

MTIME = 1_650_000_000


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    (root / "bin").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "app.py").write_text("print('hi')\n")
    (root / "bin" / "run").write_text("#!/bin/sh\nexec python app.py\n")
    os.chmod(root / "bin" / "run", 0o750)
    (root / "data.bin").write_bytes(bytes(range(256)) * 40)  # not a multiple of 512
    (root / "café" / ("long-" * 30)).mkdir(parents=True)
    (root / "café" / ("long-" * 30) / "naïve.txt").write_text("unicode and a >100 char path\n")
    (root / "bin" / "app").symlink_to("../app.py")
    (root / "passwd").symlink_to("/etc/passwd")
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (MTIME, MTIME), follow_symlinks=False)
    return root


def full_tar(root: Path, **kw: int) -> tuple[bytes, Snapshot]:
    snap = FileIndex(root).scan()
    return b"".join(build_tar(root, list(snap), snap, **kw)), snap


def assert_same_tree(src: Path, dst: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(src):
        for name in dirnames + filenames:
            a = Path(dirpath, name)
            b = dst / a.relative_to(src)
            sa, sb = a.lstat(), b.lstat()
            assert stat.S_IFMT(sa.st_mode) == stat.S_IFMT(sb.st_mode), a
            if a.is_symlink():
                assert os.readlink(a) == os.readlink(b)
            elif a.is_file():
                assert a.read_bytes() == b.read_bytes(), a
                assert stat.S_IMODE(sa.st_mode) == stat.S_IMODE(sb.st_mode), a
                assert sb.st_mtime == MTIME, a


def test_tar_round_trips_through_python_tarfile(tree: Path, tmp_path: Path) -> None:
    data, _ = full_tar(tree)
    out = tmp_path / "py"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        # "tar", not "data": the tree legitimately holds a link that points outside it.
        kwargs = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
        tar.extractall(out, **kwargs)
    assert_same_tree(tree, out)


def test_tar_round_trips_through_gnu_tar(tree: Path, tmp_path: Path) -> None:
    data, _ = full_tar(tree, chunk_size=4096)
    out = tmp_path / "gnu"
    out.mkdir()
    proc = subprocess.run(
        ["tar", "-x", "-p", "-f", "-", "-C", str(out)], input=data, capture_output=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""  # no "lone zero block" or header warnings
    assert_same_tree(tree, out)


def test_members_are_relative_and_owned_by_root(tree: Path) -> None:
    data, snap = full_tar(tree)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(snap)
    for m in members:
        assert not m.name.startswith("/") and ".." not in m.name.split("/")
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "root", "root")
    kinds = {m.name: m.type for m in members}
    assert kinds["empty"] == tarfile.DIRTYPE
    assert kinds["bin/app"] == tarfile.SYMTYPE


def test_tar_holds_only_the_given_paths(tree: Path) -> None:
    snap = FileIndex(tree).scan()
    data = b"".join(build_tar(tree, ["bin/run"], snap))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getnames() == ["bin/run"]


def test_tar_streams_in_bounded_chunks(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    snap = FileIndex(tmp_path).scan()
    chunks = list(build_tar(tmp_path, ["big"], snap, chunk_size=64 * 1024))
    assert len(chunks) > 40
    assert max(map(len, chunks)) <= 2 * 64 * 1024
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        member = tar.extractfile("big")
        assert member is not None
        assert member.read() == (tmp_path / "big").read_bytes()


def test_tar_of_a_large_tree_is_built_while_it_is_read(tmp_path: Path) -> None:
    """A first push of a large tree: the tar is produced lazily, file after file, so what is
    held at once is a chunk, never the tree (the index's rows aside)."""
    for d in range(40):
        (tmp_path / f"d{d:02d}").mkdir()
        for f in range(50):
            (tmp_path / f"d{d:02d}" / f"f{f:02d}").write_bytes(os.urandom(700))
    snap = FileIndex(tmp_path).scan()
    chunks = build_tar(tmp_path, list(snap), snap, chunk_size=16 * 1024)
    first = next(chunks)
    read = sum(1 for path in snap if snap[path].digest is not None)
    assert 0 < read <= 2 * len(first) // 1024  # only the files in that chunk: 1.5 KiB each
    sizes = [len(first), *map(len, chunks)]
    assert max(sizes) <= 2 * 16 * 1024
    assert sum(sizes) > 2000 * 1024  # 2,000 files made it through in about 190 chunks
    assert all(snap[path].digest is not None for path in snap if snap[path].kind == "file")


@pytest.mark.parametrize(
    "bad", ["/etc/passwd", "../x", "a/../../x", "a//b", "./a", "", "a/", "a\0b"]
)
def test_tar_refuses_paths_outside_the_root(tree: Path, bad: str) -> None:
    snap = FileIndex(tree).scan()
    with pytest.raises(SyncError):
        build_tar(tree, [bad], snap)  # raised at once, before any chunk is produced


def test_tar_refuses_paths_not_in_the_snapshot(tree: Path) -> None:
    with pytest.raises(SyncError, match="not in the index snapshot"):
        build_tar(tree, ["nope.txt"], FileIndex(tree).scan())


def test_tar_refuses_a_directory_swapped_for_a_link_after_the_scan(
    tree: Path, tmp_path: Path
) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "run").write_text("not ours")
    snap = FileIndex(tree).scan()
    for p in (tree / "bin").iterdir():
        p.unlink()
    (tree / "bin").rmdir()
    (tree / "bin").symlink_to(tmp_path / "outside")
    with pytest.raises(SyncError, match="outside the root"):
        b"".join(build_tar(tree, ["bin/run"], snap))


def test_tar_records_what_it_sent_so_a_touch_is_not_a_change(tree: Path) -> None:
    idx = FileIndex(tree)
    changes, snap = idx.changes()
    assert snap["app.py"].digest is None
    b"".join(build_tar(tree, changes.to_send(), snap))
    assert snap["app.py"].digest is not None
    idx.commit(snap)
    os.utime(tree / "app.py", (MTIME + 9, MTIME + 9))
    assert not idx.changes()[0]


def test_edit_between_scan_and_copy_is_sent_and_not_resent(tree: Path) -> None:
    idx = FileIndex(tree)
    changes, snap = idx.changes()
    (tree / "app.py").write_text("edited after the scan\n")
    data = b"".join(build_tar(tree, changes.to_send(), snap))
    idx.commit(snap)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.extractfile("app.py")
        assert member is not None
        assert member.read() == b"edited after the scan\n"
    assert not idx.changes()[0]


def test_file_vanished_before_the_copy_is_deleted_next_push(tree: Path) -> None:
    idx = FileIndex(tree)
    changes, snap = idx.changes()
    (tree / "app.py").unlink()
    data = b"".join(build_tar(tree, changes.to_send(), snap))
    idx.commit(snap)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert "app.py" not in tar.getnames()
    assert idx.changes()[0].to_delete() == ("app.py",)


def test_file_changed_while_being_read_is_resent_next_push(tree: Path) -> None:
    idx = FileIndex(tree)
    _, snap = idx.changes()
    stream = build_tar(tree, ["data.bin"], snap, chunk_size=512)
    next(stream)  # header and first block are out
    with (tree / "data.bin").open("ab") as f:
        f.write(b"more")
    b"".join(stream)
    assert snap["data.bin"].stale
    idx.commit(snap)
    assert idx.changes()[0].modified == ("data.bin",)


def test_snapshot_entries_must_match_kind_or_are_marked_stale(tree: Path) -> None:
    snap = Snapshot({"app.py": Entry("dir", 0, 0, 0o755)})
    data = b"".join(build_tar(tree, ["app.py"], snap))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getnames() == []
    assert snap["app.py"].stale


# -- deletions ------------------------------------------------------------------------------


def test_deletions_are_one_rm_call() -> None:
    assert delete_argv("/tmp/src/", ["b/c", "a", "a"]) == [
        ["rm", "-rf", "--", "/tmp/src/a", "/tmp/src/b/c"]
    ]


def test_no_deletions_means_no_call() -> None:
    assert delete_argv("/tmp/src", []) == []


def test_deletions_split_when_over_the_argv_budget() -> None:
    paths = [f"dir/file-{i:05d}.txt" for i in range(3000)]
    argvs = delete_argv("/opt/app-root/src", paths, budget=16 * 1024)
    assert len(argvs) > 1
    assert all(argv[:3] == ["rm", "-rf", "--"] for argv in argvs)
    assert all(sum(len(a) + 1 for a in argv) <= 16 * 1024 for argv in argvs)
    assert [p for argv in argvs for p in argv[3:]] == [f"/opt/app-root/src/{p}" for p in paths]


@pytest.mark.parametrize("bad", ["../etc", "/etc", "a/../../etc", "", ".", "a/./b"])
def test_deletions_refuse_paths_escaping_the_target(bad: str) -> None:
    with pytest.raises(SyncError):
        delete_argv("/tmp/src", ["ok", bad])


@pytest.mark.parametrize("target", ["relative/dir", "/", "", "//"])
def test_deletions_refuse_a_relative_or_root_target(target: str) -> None:
    with pytest.raises(SyncError):
        delete_argv(target, ["a"])
