"""A rescan of the paths a watcher names equals a full scan, whatever the edits.

Property-based (hypothesis): a random tree (nested directories, files, symlinks, nested
``.gitignore``/``.pyodoignore`` files with patterns that ignore and re-include), then a random
sequence of edits — files written, rewritten (also within the racy window, same size),
chmod-ed, deleted; nested directories made (the watcher naming only the top one, as
watchfiles may, samuelcolvin/watchfiles#245) and removed whole; files and directories renamed;
links made and re-pointed; a file replaced by a directory; ignore files edited. After each
edit, :class:`~pyodo_tasks.core.rescan.LiveTree` is told only what a watcher would name, and
its snapshot must hold what :meth:`FileIndex.scan` of the same previous snapshot finds: the
same rows, the same ignore texts, every path the full scan could not carry over among its
suspects, its directory map and its running digest those of the full scan's rows (and the
digest the one a from-scratch sum of its rows gives). Some snapshots are committed on the way
(a sync's, after the tar writer recorded what it sent of some files), which keeps only their
racy entries as suspects: appended to the index's log or written whole, what another process
loads is the snapshot committed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from hypothesis import given, settings
from hypothesis import strategies as st

from pyodo_tasks.core.index import FileIndex, Snapshot
from pyodo_tasks.core.rescan import Journal, LiveTree, children_of
from pyodo_tasks.core.tarball import build_tar

UNIT = settings().max_examples
NAMES = ("a", "b", "c.txt", "x.log", "keep.log", "tmp")
IGNORE_TEXTS = ("*.log\n", "*.log\n!keep.log\n", "tmp/\n", "b\n", "")
OLD = time.time_ns() - 100 * 10**9  # far outside the racy window


def _all(root: Path) -> tuple[list[str], list[str]]:
    """Files and links, and directories, under ``root`` (relative), sorted."""
    files, dirs = [], []
    for base, dirnames, filenames in os.walk(root):
        rel = Path(base).relative_to(root).as_posix()
        prefix = "" if rel == "." else rel + "/"
        dirs += [prefix + d for d in dirnames if not os.path.islink(os.path.join(base, d))]
        files += [prefix + f for f in filenames]
        files += [prefix + d for d in dirnames if os.path.islink(os.path.join(base, d))]
    return sorted(files), sorted(dirs)


def _write(path: Path, text: str, mtime_ns: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)


def _edit(data: st.DataObject, root: Path, last_scan: int) -> list[str]:
    """One random edit of the tree; returns what a watcher would name (relative paths)."""
    files, dirs = _all(root)
    place = data.draw(st.sampled_from(["", *dirs]))
    prefix = place + "/" if place else ""
    name = data.draw(st.sampled_from(NAMES))
    kind = data.draw(st.sampled_from(sorted(_EDITS)))
    if kind in _FILE_EDITS and not files:
        kind = "new"
    return _EDITS[kind](_Edit(data, root, last_scan, files, dirs, prefix, name))


class _Edit(NamedTuple):
    data: st.DataObject
    root: Path
    last_scan: int
    files: list[str]
    dirs: list[str]
    prefix: str
    name: str

    def text(self) -> str:
        return self.data.draw(st.text("xyz", max_size=5))


def _new(e: _Edit) -> list[str]:
    path = e.prefix + e.name
    target = e.root / path
    if target.is_dir() and not target.is_symlink():
        return []
    if target.is_symlink():
        target.unlink()
    _write(target, e.text())
    return [path]


def _on_file(e: _Edit) -> tuple[str, Path]:
    path = e.data.draw(st.sampled_from(e.files))
    return path, e.root / path


def _rewrite(e: _Edit) -> list[str]:
    path, target = _on_file(e)
    if target.is_symlink():
        target.unlink()
    target.write_text(e.text())
    return [path]


def _racy(e: _Edit) -> list[str]:
    """Same size, an mtime within the last scan's racy window."""
    path, target = _on_file(e)
    if target.is_symlink():
        target.unlink()
    _write(target, "q" * target.stat().st_size if target.exists() else "q", e.last_scan - 10**9)
    return [path]


def _chmod(e: _Edit) -> list[str]:
    path, target = _on_file(e)
    if target.is_symlink():
        return []
    target.chmod(0o600 if target.stat().st_mode & 0o077 else 0o644)
    return [path]


def _delete(e: _Edit) -> list[str]:
    path, target = _on_file(e)
    target.unlink()
    return [path]


def _file_to_dir(e: _Edit) -> list[str]:
    path, target = _on_file(e)
    target.unlink()
    _write(target / "inner", "i")
    return [path]


def _mkdirs(e: _Edit) -> list[str]:
    """mkdir -p and files in it: the watcher may name only the top directory."""
    top = e.prefix + "n" + e.name.replace(".", "")
    if os.path.lexists(e.root / top):
        return []
    _write(e.root / top / "d2" / "d3" / e.name, "deep")
    _write(e.root / top / e.name, "top")
    if e.data.draw(st.booleans()):
        _write(e.root / top / "d2" / ".gitignore", e.data.draw(st.sampled_from(IGNORE_TEXTS)))
    return [top]


def _rmtree(e: _Edit) -> list[str]:
    if not e.dirs:
        return []
    path = e.data.draw(st.sampled_from(e.dirs))
    shutil.rmtree(e.root / path)
    return [path]


def _rename(e: _Edit) -> list[str]:
    pool = e.files + e.dirs
    if not pool:
        return []
    source = e.data.draw(st.sampled_from(pool))
    dest = e.prefix + "r" + e.name
    if dest == source or dest.startswith(source + "/") or os.path.lexists(e.root / dest):
        return []
    os.rename(e.root / source, e.root / dest)
    return [source, dest]


def _link(e: _Edit) -> list[str]:
    path = e.prefix + "l" + e.name
    target = e.root / path
    if os.path.lexists(target) and not target.is_symlink():
        return []
    if target.is_symlink():
        target.unlink()
    os.symlink(e.data.draw(st.sampled_from([*NAMES, "../a", "/etc"])), target)
    return [path]


def _ignore(e: _Edit) -> list[str]:
    path = e.prefix + e.data.draw(st.sampled_from([".gitignore", ".pyodoignore"]))
    if (e.root / path).is_dir():  # made a directory by file-to-dir
        return []
    _write(e.root / path, e.data.draw(st.sampled_from(IGNORE_TEXTS)))
    return [path]


_EDITS: dict[str, Callable[[_Edit], list[str]]] = {
    "new": _new,
    "rewrite": _rewrite,
    "racy": _racy,
    "chmod": _chmod,
    "delete": _delete,
    "file-to-dir": _file_to_dir,
    "mkdirs": _mkdirs,
    "rmtree": _rmtree,
    "rename": _rename,
    "link": _link,
    "ignore": _ignore,
}
_FILE_EDITS = {"rewrite", "racy", "chmod", "delete", "file-to-dir"}


def _initial(data: st.DataObject, root: Path) -> None:
    for _ in range(data.draw(st.integers(3, 25))):
        depth = data.draw(st.integers(0, 3))
        parts = [data.draw(st.sampled_from(("d", "e", "tmp", "b"))) for _ in range(depth)]
        name = data.draw(st.sampled_from([*NAMES, ".gitignore", ".pyodoignore"]))
        path = root.joinpath(*parts, name)
        if any(p.is_file() for p in [path, *path.parents] if p != root and root in p.parents):
            continue
        if name.startswith("."):
            _write(path, data.draw(st.sampled_from(IGNORE_TEXTS)))
        elif not path.is_dir():
            _write(path, data.draw(st.text("xyz", max_size=5)))
    if data.draw(st.booleans()):
        os.symlink("a", root / "link")
    for base, dirnames, filenames in os.walk(root, topdown=False):
        for name in [*dirnames, *filenames]:
            os.utime(os.path.join(base, name), ns=(OLD, OLD), follow_symlinks=False)


def random_tree(data: st.DataObject, tmp: Path) -> tuple[Path, tuple[str, ...]]:
    """A random tree in ``tmp``, and extra ignore patterns for its index."""
    root = tmp / "tree"
    root.mkdir()
    _initial(data, root)
    return root, data.draw(st.sampled_from([(), ("*.tmp", "e/")]))


def _assert_same(live: LiveTree, full: Snapshot, previous: Snapshot) -> None:
    got = live.snapshot
    assert got is not None
    _assert_rows(got, full)
    base = got._base() if got._base is not None else None
    if base is previous:  # else rescanned from a sync's committed snapshot: rows are its
        unlinked = {p for p in full._suspects if full[p].kind != "link"}
        assert unlinked <= set(got._suspects)
    assert len(got._suspects) == len(set(got._suspects)) and set(got._suspects) <= set(got)
    carried = [p for p in got._entries if p not in set(got._suspects)]
    assert base is not None
    assert all(got._entries[p] is base._entries[p] for p in carried)
    kept = {id(k) for k in base._entries}  # ... and their path strings (memory: one copy)
    assert all(id(k) in kept for k in got._entries if k in set(carried))
    if live._children is not None:
        mine = {d: sorted(ps) for d, ps in live._children.items() if ps}
        assert mine == {d: sorted(ps) for d, ps in children_of(full).items()}
    fresh = LiveTree(live.index)
    fresh.snapshot = None
    fresh.scan()
    assert live.digest() == fresh.digest() == Snapshot(got._entries).digest()


def _assert_rows(got: Snapshot, full: Snapshot) -> None:
    """The same rows (content digests aside: a committed tree may carry the tar's)."""
    assert {p: e._replace(digest=None) for p, e in got.items()} == {
        p: e._replace(digest=None) for p, e in full.items()
    }
    assert got.ignores == full.ignores
    assert got.digest() == full.digest()


def _commit(
    data: st.DataObject, index: FileIndex, snapshot: Snapshot, extra: tuple[str, ...]
) -> None:
    """A sync's commit: the tar writer records what it sent of some files first; the log
    appended to or the index written whole; another process loads what was committed."""
    files = sorted(p for p in snapshot if snapshot[p].kind == "file")
    sent = data.draw(st.lists(st.sampled_from(files), unique=True)) if files else []
    b"".join(build_tar(index.root, sorted(sent), snapshot))
    assert snapshot.digest() == Snapshot(snapshot._entries).digest()
    files = index.files
    files.log_limit = data.draw(st.sampled_from([0.0, 100.0]))
    base = snapshot._base() if snapshot._base is not None else None
    last = files.last
    appends = files.log_limit > 1 and last is not None and base is last.snapshot
    appends = appends and snapshot._recorded is not None
    logged = index.log_path.stat().st_size if index.log_path.exists() else 0
    index.commit(snapshot)
    if appends:  # scanned from what the files hold: one record appended
        assert index.log_path.stat().st_size > logged
    loaded = FileIndex(index.root, state_dir=index.state_dir, extra_ignores=extra).load()
    assert loaded is not None
    assert dict(loaded.items()) == dict(snapshot.items())
    assert (loaded.ignores, loaded.scanned_at_ns, loaded.committed_at_ns) == (
        snapshot.ignores,
        snapshot.scanned_at_ns,
        snapshot.committed_at_ns,
    )
    assert loaded.digest() == snapshot.digest()


@settings(max_examples=5 * UNIT)
@given(st.data())
def test_a_rescan_of_the_named_paths_equals_a_full_scan(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root, extra = random_tree(data, Path(tmp))
        index = FileIndex(root, state_dir=Path(tmp) / "state", extra_ignores=extra)
        journal = index.journal = Journal()
        live = LiveTree(index, journal)
        live.scan()
        for _ in range(data.draw(st.integers(1, 8))):
            previous = live.snapshot
            assert previous is not None
            if data.draw(st.booleans()):  # a sync committed it: its suspects shrink to racy ones
                _commit(data, index, previous, extra)
            if data.draw(st.booleans()):  # a sync now: from its commit, or the client's tree
                synced = journal.scan(index, index.load())
                _assert_rows(synced, index.scan())
                if data.draw(st.booleans()):  # ... committed: the client's tree rebases on it
                    _commit(data, index, synced, extra)
            named = _edit(data, root, previous.scanned_at_ns)
            journal.note(named)
            if data.draw(st.booleans()):  # a sync between the note and the client's rescan
                synced = journal.scan(index, index.load())
                _assert_rows(synced, index.scan())
                if data.draw(st.booleans()):
                    _commit(data, index, synced, extra)
            if data.draw(st.integers(0, 5)):
                live.update(named)
            else:  # the client lost track: a full scan (a sync meanwhile walks from its tree)
                journal.note(None)
                if data.draw(st.booleans()):
                    _assert_rows(journal.scan(index, index.load()), index.scan())
                live.update(None)
            _assert_same(live, index.scan(previous=previous), previous)
