"""The stat of many paths, half of them in a helper process: the same list as one loop here."""

from __future__ import annotations

import os
import subprocess
import sys

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


def _expected(root, names):
    out = []
    for name in names:
        try:
            st = os.lstat(os.path.join(root, name))
        except OSError:
            out.append(lstats.GONE)
        else:
            out.append((st.st_mtime_ns, st.st_size, st.st_mode))
    return out


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
    if as_bytes:
        got = lstats.lstat_all(os.fsencode(prefix), [os.fsencode(n) for n in names])
    else:
        got = lstats.lstat_all(prefix, names)
    assert got == _expected(root, names)
    assert len(started) == 1


def test_few_paths_or_one_core_start_no_helper(tree, monkeypatch):
    root, names = tree

    def no_process(*args, **kwargs):
        raise AssertionError("no helper expected")

    monkeypatch.setattr(lstats.subprocess, "Popen", no_process)
    assert lstats.lstat_all(os.fspath(root) + "/", names) == _expected(root, names)
    monkeypatch.setattr(lstats, "SPLIT_FROM", 2)
    monkeypatch.setattr(lstats, "_cpus", lambda: 1)
    assert lstats.lstat_all(os.fspath(root) + "/", names) == _expected(root, names)


@pytest.mark.usefixtures("split_always")
@pytest.mark.parametrize(
    "helper",
    [
        "import sys; sys.exit(3)",
        "import sys; sys.stdout.buffer.write(b'short')",
        "import sys; sys.stdin.buffer.read()",  # answers nothing
    ],
    ids=["fails", "answers-short", "answers-nothing"],
)
def test_a_failing_helper_is_replaced_by_stat_here(tree, helper, monkeypatch):
    root, names = tree
    monkeypatch.setattr(lstats, "_HELPER", helper)
    assert lstats.lstat_all(os.fspath(root) + "/", names) == _expected(root, names)


@pytest.mark.usefixtures("split_always")
def test_a_helper_that_cannot_start_is_replaced_by_stat_here(tree, monkeypatch):
    root, names = tree
    monkeypatch.setattr(sys, "executable", os.fspath(root / "no-python"))
    assert lstats.lstat_all(os.fspath(root) + "/", names) == _expected(root, names)


@pytest.mark.usefixtures("split_always")
def test_a_helper_past_its_bound_is_killed_and_replaced(tree, monkeypatch):
    root, names = tree
    monkeypatch.setattr(lstats, "_HELPER", "import time; time.sleep(60)")
    monkeypatch.setattr(lstats, "_HELPER_TIMEOUT", 0.5)
    started = []
    real = subprocess.Popen

    def popen(*args, **kwargs):
        started.append(real(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(lstats.subprocess, "Popen", popen)
    assert lstats.lstat_all(os.fspath(root) + "/", names) == _expected(root, names)
    assert started[0].returncode is not None  # killed and reaped, not left behind


@pytest.mark.usefixtures("split_always")
def test_an_interrupt_during_this_half_ends_the_helper(tree, monkeypatch):
    root, names = tree
    monkeypatch.setattr(lstats, "_HELPER", "import time; time.sleep(60)")
    started = []
    real = subprocess.Popen

    def popen(*args, **kwargs):
        started.append(real(*args, **kwargs))
        return started[-1]

    def interrupted(prefix, paths):
        raise KeyboardInterrupt

    monkeypatch.setattr(lstats.subprocess, "Popen", popen)
    monkeypatch.setattr(lstats, "_here", interrupted)
    with pytest.raises(KeyboardInterrupt):
        lstats.lstat_all(os.fspath(root) + "/", names)
    assert started[0].returncode is not None
