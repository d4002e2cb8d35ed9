"""Which paths moved, half of them checked in a helper process: the same answer as here."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from array import array
from pathlib import Path

import pytest

from pyodo_tasks.core import lstats


@pytest.fixture
def tree(tmp_path):
    """Files, a directory, a symlink (dangling), a FIFO and names that are gone."""
    for i in range(40):
        (tmp_path / f"f{i:02d}.txt").write_text("x" * i)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "caf\u00e9.txt").write_text("bytes")
    os.symlink("nowhere", tmp_path / "link")
    os.mkfifo(tmp_path / "fifo")
    names = [*sorted(p.name for p in tmp_path.iterdir()), "sub/caf\u00e9.txt", "gone", "sub/gone"]
    return tmp_path, names


def _recorded(root, names):
    """Each path's columns as an index recorded them, some of them since moved."""
    columns = ([], [], [])
    for i, name in enumerate(names):
        try:
            st = os.lstat(os.path.join(root, name))
            row = (st.st_mtime_ns, st.st_size, st.st_mode)
        except OSError:
            row = (5, 5, 0o100644)  # gone since
        if i % 7 == 3:
            row = (row[0] + 1, row[1], row[2])  # touched since
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return columns


def _expected(root, names, want, racy_from):
    out = {}
    for i, name in enumerate(names):
        try:
            st = os.lstat(os.path.join(root, name))
            now = (st.st_mtime_ns, st.st_size, st.st_mode)
        except OSError:
            now = lstats.GONE
        if now != tuple(c[i] for c in want) or want[0][i] >= racy_from:
            out[i] = now
    return out


def _check(root, names, prefix=None, racy_from=None):
    """``moved`` on the tree (recorded columns as lists and as int64 arrays) equals
    ``_expected``; by default nothing is racy."""
    want = _recorded(root, names)
    racy_from = max(want[0]) + 1 if racy_from is None else racy_from
    prefix = os.fspath(root) + "/" if prefix is None else prefix
    paths = names if isinstance(prefix, str) else [os.fsencode(n) for n in names]
    expected = _expected(root, names, want, racy_from)
    assert expected  # the test moves some
    assert lstats.moved(prefix, paths, want, racy_from) == expected
    arrays = [array("q", c) for c in want]
    assert lstats.moved(prefix, paths, arrays, racy_from) == expected


def _script(where, code):
    """A helper script of ``code`` (in place of lstatcheck.py), beside the tree."""
    path = Path(tempfile.mkdtemp(dir=where)) / "helper.py"
    path.write_text(code)
    return os.fspath(path)


@pytest.fixture
def split_always(monkeypatch):
    monkeypatch.setattr(lstats, "SPLIT_FROM", 2)
    monkeypatch.setattr(lstats, "_cpus", lambda: 2)


@pytest.mark.usefixtures("split_always")
@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_the_helper_stats_half_the_paths_with_the_same_result(tree, as_bytes, monkeypatch):
    root, names = tree
    started = []
    real = subprocess.Popen

    def popen(*args, **kwargs):
        started.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(lstats.subprocess, "Popen", popen)
    prefix = os.fspath(root) + "/"
    _check(root, names, os.fsencode(prefix) if as_bytes else prefix)
    assert len(started) == 2  # one helper a call


def test_few_paths_or_one_core_start_no_helper(tree, monkeypatch):
    root, names = tree

    def no_process(*args, **kwargs):
        raise AssertionError("no helper expected")

    monkeypatch.setattr(lstats.subprocess, "Popen", no_process)
    _check(root, names)
    monkeypatch.setattr(lstats, "SPLIT_FROM", 2)
    monkeypatch.setattr(lstats, "_cpus", lambda: 1)
    _check(root, names)


@pytest.mark.usefixtures("split_always")
@pytest.mark.parametrize(
    "helper",
    [
        "import sys; sys.exit(3)",
        "import sys; sys.stdout.buffer.write(b'short')",
        "import marshal, sys; sys.stdout.buffer.write(marshal.dumps({10**6: (1, 2, 3)}))",
        "import sys; sys.stdin.buffer.read()",  # answers nothing
    ],
    ids=["fails", "answers-short", "answers-nothing", "answers-out-of-range"],
)
def test_a_failing_helper_is_replaced_by_stat_here(tree, helper, monkeypatch):
    root, names = tree
    monkeypatch.setattr(lstats, "_HELPER", _script(root.parent, helper))
    _check(root, names)


@pytest.mark.usefixtures("split_always")
def test_a_helper_that_cannot_start_is_replaced_by_stat_here(tree, monkeypatch):
    root, names = tree
    monkeypatch.setattr(sys, "executable", os.fspath(root / "no-python"))
    _check(root, names)


@pytest.mark.usefixtures("split_always")
def test_a_helper_past_its_bound_is_killed_and_replaced(tree, monkeypatch):
    root, names = tree
    monkeypatch.setattr(lstats, "_HELPER", _script(root.parent, "import time; time.sleep(60)"))
    monkeypatch.setattr(lstats, "_HELPER_TIMEOUT", 0.5)
    started = []
    real = subprocess.Popen

    def popen(*args, **kwargs):
        started.append(real(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(lstats.subprocess, "Popen", popen)
    _check(root, names)
    assert started[0].returncode is not None  # killed and reaped, not left behind


@pytest.mark.usefixtures("split_always")
def test_an_interrupt_during_this_half_ends_the_helper(tree, monkeypatch):
    root, names = tree
    monkeypatch.setattr(lstats, "_HELPER", _script(root.parent, "import time; time.sleep(60)"))
    started = []
    real = subprocess.Popen

    def popen(*args, **kwargs):
        started.append(real(*args, **kwargs))
        return started[-1]

    def interrupted(prefix, paths, want, racy_from):
        raise KeyboardInterrupt

    monkeypatch.setattr(lstats.subprocess, "Popen", popen)
    monkeypatch.setattr(lstats, "compare", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _check(root, names)
    assert started[0].returncode is not None


@pytest.mark.usefixtures("split_always")
def test_racy_paths_are_answered_though_unchanged(tree):
    root, names = tree
    want = _recorded(root, names)
    racy_from = sorted(want[0])[len(names) // 2]
    assert lstats.moved(os.fspath(root) + "/", names, want, racy_from) == _expected(
        root, names, want, racy_from
    )


@pytest.mark.usefixtures("split_always")
def test_columns_that_are_not_int64_are_checked_here(tree, monkeypatch):
    root, names = tree
    want = _recorded(root, names)
    want[1][-1] = 2**70  # no helper can take it: checked here, the same answer

    def no_process(*args, **kwargs):
        raise AssertionError("no helper expected")

    monkeypatch.setattr(lstats.subprocess, "Popen", no_process)
    racy_from = max(want[0]) + 1
    assert lstats.moved(os.fspath(root) + "/", names, want, racy_from) == _expected(
        root, names, want, racy_from
    )
