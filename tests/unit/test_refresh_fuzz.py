"""A push's refresh by stat alone (:mod:`pyodo_tasks.core.refresh`) equals a full walk.

Property-based, with the random trees and edits of ``test_rescan_fuzz``: a tree scanned and
committed, then rounds of random edits, each followed by what a new ``doit push`` process
does (load the index, refresh it) and checked against a walk from nothing: the same rows and
ignore texts, and the same changes as a walk from the loaded index. What each round commits
varies (the refresh's own snapshot after the tar writer recorded some files, a walk's, or a
doit dev sync's rescan from its journal), so that the directory mtimes and the root's which
the refresh trusts come from each kind of scan, appended to the log or written whole. Half
the rounds stat half their paths in the helper process a large tree's refresh uses
(:mod:`pyodo_tasks.core.lstats`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from pyodo_tasks.core import lstats, refresh
from pyodo_tasks.core.index import FileIndex
from pyodo_tasks.core.rescan import Journal
from pyodo_tasks.core.tarball import build_tar
from tests.unit.test_rescan_fuzz import OLD, UNIT, _assert_rows, _edit, random_tree


@contextlib.contextmanager
def _helper_stats(split: bool) -> Iterator[None]:
    """Half the paths stat-ed by the helper process (as on a large tree), or none."""
    if not split:
        yield
        return
    with mock.patch.object(lstats, "SPLIT_FROM", 2), mock.patch.object(lstats, "_cpus", lambda: 2):
        yield


@settings(max_examples=5 * UNIT)
@given(st.data())
def test_a_refresh_from_the_loaded_index_equals_a_full_walk(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root, extra = random_tree(data, Path(tmp))
        if data.draw(st.booleans()):  # else the root is racy: listed again each time
            os.utime(root, ns=(OLD, OLD))
        state = Path(tmp) / "state"
        first = FileIndex(root, state_dir=state, extra_ignores=extra)
        first.commit(first.scan())
        journal = Journal()
        for _ in range(data.draw(st.integers(1, 6))):
            index = FileIndex(root, state_dir=state, extra_ignores=extra)  # a new process
            loaded = index.load()
            assert loaded is not None
            for _ in range(data.draw(st.integers(0, 3))):
                named = _edit(data, root, loaded.scanned_at_ns)
                journal.note(named)
            with _helper_stats(data.draw(st.booleans())):
                got = refresh.scan(index, loaded)
            _assert_rows(got, FileIndex(root, state_dir=state, extra_ignores=extra).scan())
            walked = index.scan(previous=loaded)
            assert index.diff(loaded, got) == index.diff(loaded, walked)
            how = data.draw(st.sampled_from(["refresh", "walk", "journal", "none"]))
            if how == "refresh":
                files = sorted(p for p in got if got[p].kind == "file")
                sent = data.draw(st.lists(st.sampled_from(files), unique=True)) if files else []
                b"".join(build_tar(root, sorted(sent), got))
                index.files.log_limit = data.draw(st.sampled_from([0.0, 100.0]))
                index.commit(got)
            elif how == "walk":
                index.commit(walked)
            elif how == "journal":  # doit dev's sync: a rescan of what its watcher named
                index.journal = journal
                index.commit(journal.scan(index, loaded))
