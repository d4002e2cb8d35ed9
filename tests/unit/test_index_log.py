"""The index's commits as an append-only log after a full index file (doit dev's syncs).

A commit of a snapshot scanned from the one the files hold appends one checksummed record of
its changed rows; the full file is written again when the log would outgrow its share, when
the changes are not known, or when the files are not the ones this index last saw. Whatever
is cut off the log's end (a kill mid-append), a load gives the old state or the new one.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from pyodo_tasks.core import recordlog
from pyodo_tasks.core.index import FORMAT_VERSION, FileIndex, Snapshot
from pyodo_tasks.core.rescan import rescan
from pyodo_tasks.core.tarball import build_tar

OLD = 1_700_000_000 * 10**9  # far outside the racy window


def _tree(root: Path, count: int = 40) -> None:
    for i in range(count):
        path = root / f"d{i % 4}" / f"f{i}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"file {i}\n")
    (root / ".gitignore").write_text("*.log\n")
    for base, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            os.utime(os.path.join(base, name), ns=(OLD, OLD))
    os.utime(root, ns=(OLD, OLD))


@pytest.fixture
def index(tmp_path: Path) -> FileIndex:
    root = tmp_path / "src"
    root.mkdir()
    _tree(root)
    idx = FileIndex(root, state_dir=tmp_path / "state")
    idx.files.log_limit = 100.0  # append whatever the size; the limit has its own test
    return idx


def _sync(idx: FileIndex, changed: list[str] | None = None) -> Snapshot:
    """What doit dev's controller does: rescan from the committed snapshot, diff, send (the
    tar writer records what it sent), commit."""
    old = idx.load()
    new = rescan(idx, old, changed) if changed is not None else idx.scan(previous=old)
    changes = idx.diff(old, new)
    b"".join(build_tar(idx.root, changes.to_send(), new))
    idx.commit(new)
    return new


def _one_edit_logged(idx: FileIndex) -> Snapshot:
    """A first full commit, then one edit of ``d0/f0.txt`` committed through the log."""
    _sync(idx)
    (idx.root / "d0" / "f0.txt").write_text("one\n!")
    return _sync(idx, ["d0/f0.txt"])


def _fresh(idx: FileIndex) -> Snapshot | None:
    """The index as another process loads it."""
    other = FileIndex(idx.root, state_dir=idx.state_dir)
    return other.load()


def _same(loaded: Snapshot | None, committed: Snapshot) -> None:
    assert loaded is not None
    assert dict(loaded.items()) == dict(committed.items())
    assert loaded.ignores == committed.ignores
    assert loaded.scanned_at_ns == committed.scanned_at_ns
    assert loaded.committed_at_ns == committed.committed_at_ns
    assert loaded.rules_key == committed.rules_key
    assert loaded.digest() == committed.digest()


def test_a_sync_of_one_edit_appends_a_record_and_leaves_the_full_index_alone(
    index: FileIndex,
) -> None:
    _sync(index)  # the first: a full index file
    full = index.index_path.read_bytes()
    assert not index.log_path.exists()
    (index.root / "d1" / "f1.txt").write_text("edited, longer\n")
    committed = _sync(index, ["d1/f1.txt"])
    assert index.index_path.read_bytes() == full
    lines = index.log_path.read_bytes().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0].split(b" ", 2)[2])
    assert record["paths"] == ["d1", "d1/f1.txt"] or record["paths"] == ["d1/f1.txt"]
    assert record["deleted"] == []
    _same(_fresh(index), committed)
    assert index.load() is committed  # this process keeps what it wrote


def test_deletions_new_files_and_ignore_files_go_through_the_log(index: FileIndex) -> None:
    _sync(index)
    root = index.root
    (root / "d2" / "f2.txt").unlink()
    (root / "d3" / "new.txt").write_text("new\n")
    (root / "d0" / ".pyodoignore").write_text("f0.txt\n")
    _sync(index, ["d2/f2.txt", "d3/new.txt", "d0/.pyodoignore"])  # an ignore file: a full scan
    committed = _sync(index, [])
    _same(_fresh(index), committed)
    (root / "d0" / ".pyodoignore").unlink()
    index.commit(index.scan(previous=index.load()))  # a full walk from the committed one
    assert index.log_path.exists()
    loaded = _fresh(index)
    committed = index.load()
    assert committed is not None and "d0/f0.txt" in committed
    _same(loaded, committed)
    assert "d0" not in committed.ignores


def test_a_removed_directory_takes_its_rows_out_of_the_log(index: FileIndex) -> None:
    _sync(index)
    for path in (index.root / "d3").iterdir():
        path.unlink()
    (index.root / "d3").rmdir()
    committed = _sync(index, ["d3"])
    assert not any(p.startswith("d3") for p in committed)
    _same(_fresh(index), committed)


def test_the_log_is_folded_into_a_new_full_index_past_its_share(index: FileIndex) -> None:
    _sync(index)
    (index.root / "d1" / "f1.txt").write_text("x")
    _sync(index, ["d1/f1.txt"])
    record, full = index.log_path.stat().st_size, index.index_path.stat().st_size
    index.files.log_limit = 2.5 * record / full  # two records of this small index
    sizes = []
    for i in range(6):
        (index.root / "d1" / "f1.txt").write_text("x" * (i + 1))
        committed = _sync(index, ["d1/f1.txt"])
        sizes.append(index.log_path.stat().st_size if index.log_path.exists() else 0)
        _same(_fresh(index), committed)
    assert 0 in sizes and max(sizes) > 0  # appended, then folded, then appended again
    assert max(sizes) <= index.index_path.stat().st_size * index.files.log_limit


def test_every_cut_of_an_appended_record_loads_the_old_or_the_new_state(
    index: FileIndex, caplog: pytest.LogCaptureFixture
) -> None:
    """A kill mid-append leaves some prefix of the record on disk: each one loads."""
    first = _one_edit_logged(index)
    first_rows, first_log = dict(first.items()), index.log_path.read_bytes()
    (index.root / "d2" / "f2.txt").unlink()
    (index.root / "d3" / "f3.txt").write_text("three, longer\n")
    second = _sync(index, ["d2/f2.txt", "d3/f3.txt"])
    whole = index.log_path.read_bytes()
    assert len(whole) > len(first_log)
    with caplog.at_level(logging.WARNING, logger="pyodo_tasks.core.index"):
        for cut in range(len(first_log), len(whole) + 1):
            index.log_path.write_bytes(whole[:cut])
            loaded = _fresh(index)
            assert loaded is not None
            expected = dict(second.items()) if cut == len(whole) else first_rows
            assert dict(loaded.items()) == expected, cut
    assert "torn record" in caplog.text


def test_after_a_torn_tail_the_next_commit_writes_the_full_index(
    index: FileIndex, caplog: pytest.LogCaptureFixture
) -> None:
    _one_edit_logged(index)
    with index.log_path.open("ab") as f:
        f.write(b"5a 0000")  # what a kill mid-append leaves
    index.files.last = None  # as a new process
    with caplog.at_level(logging.WARNING, logger="pyodo_tasks.core.index"):
        assert index.load() is not None
    assert "torn record" in caplog.text
    full = index.index_path.read_bytes()
    (index.root / "d1" / "f1.txt").write_text("two\n!")
    committed = _sync(index, ["d1/f1.txt"])
    assert index.index_path.read_bytes() != full  # not appended after the garbage
    assert not index.log_path.exists()
    _same(_fresh(index), committed)


def test_a_corrupt_record_ends_the_log_there(
    index: FileIndex, caplog: pytest.LogCaptureFixture
) -> None:
    _sync(index)
    states = []
    for i in range(3):
        (index.root / f"d{i}" / f"f{i}.txt").write_text(f"edit {i} !")
        states.append(dict(_sync(index, [f"d{i}/f{i}.txt"]).items()))
    lines = index.log_path.read_bytes().splitlines(keepends=True)
    assert len(lines) == 3
    middle = bytearray(lines[1])
    middle[-5] ^= 0x01  # one flipped bit in the second record's JSON
    index.log_path.write_bytes(lines[0] + bytes(middle) + lines[2])
    with caplog.at_level(logging.WARNING, logger="pyodo_tasks.core.index"):
        loaded = _fresh(index)
    assert loaded is not None and dict(loaded.items()) == states[0]
    assert "corrupt record" in caplog.text


def test_a_log_left_by_a_kill_between_full_write_and_removal_is_ignored(
    index: FileIndex, caplog: pytest.LogCaptureFixture
) -> None:
    _one_edit_logged(index)
    stale = index.log_path.read_bytes()
    (index.root / "new.txt").write_text("new\n")
    index.commit(index.scan())  # no previous snapshot: the full index, the log removed
    committed = index.load()
    assert committed is not None and not index.log_path.exists()
    index.log_path.write_bytes(stale)  # as if the removal never happened
    with caplog.at_level(logging.WARNING, logger="pyodo_tasks.core.index"):
        loaded = _fresh(index)
    _same(loaded, committed)
    assert "another index" in caplog.text


def test_a_record_that_checks_out_but_is_malformed_means_a_full_index(
    index: FileIndex, caplog: pytest.LogCaptureFixture
) -> None:
    _sync(index)
    doc = json.loads(index.index_path.read_text())
    bad = {"base": doc["log"], "paths": ["../outside"], "deleted": []}
    index.log_path.write_bytes(recordlog.encode(bad))
    with caplog.at_level(logging.WARNING, logger="pyodo_tasks.core.index"):
        assert _fresh(index) is None
    assert "full index" in caplog.text


def test_an_index_of_the_previous_format_means_one_full_index(
    index: FileIndex, caplog: pytest.LogCaptureFixture
) -> None:
    committed = _sync(index)
    doc = json.loads(index.index_path.read_text())
    doc["version"] = 2
    del doc["log"]
    index.index_path.write_text(json.dumps(doc))
    index.files.last = None
    with caplog.at_level(logging.WARNING, logger="pyodo_tasks.core.index"):
        changes, _ = index.changes()
    assert changes.full and "full index" in caplog.text
    committed = _sync(index)
    assert json.loads(index.index_path.read_text())["version"] == FORMAT_VERSION
    _same(_fresh(index), committed)


def test_a_commit_by_another_process_is_not_appended_to_blindly(index: FileIndex) -> None:
    _sync(index)
    other = FileIndex(index.root, state_dir=index.state_dir)
    other.files.log_limit = 100.0
    (index.root / "d0" / "f0.txt").write_text("theirs\n")
    _sync(other, ["d0/f0.txt"])
    (index.root / "d1" / "f1.txt").write_text("mine\n!")
    mine = _sync(index, ["d1/f1.txt"])  # loads theirs first: a rescan of a loaded snapshot
    _same(_fresh(index), mine)
    assert dict(_fresh(other) or {}) == dict(mine)


def test_a_snapshot_recorded_into_after_its_commit_is_not_a_base_for_the_log(
    index: FileIndex,
) -> None:
    committed = _sync(index)
    entry = committed["d0/f0.txt"]
    committed.record("d0/f0.txt", entry._replace(size=-1))  # no longer what the file says
    (index.root / "d1" / "f1.txt").write_text("two\n!")
    new = _sync(index, ["d1/f1.txt"])
    assert not index.log_path.exists()  # written whole
    _same(_fresh(index), new)


def test_why_reports_the_time_of_the_last_appended_commit(index: FileIndex) -> None:
    committed = _one_edit_logged(index)
    assert index.log_path.exists()
    loaded = _fresh(index)
    assert loaded is not None and loaded.committed_at_ns == committed.committed_at_ns
    assert committed.committed_at_ns is not None


def test_forget_removes_the_full_index_and_its_log(index: FileIndex) -> None:
    _one_edit_logged(index)
    index.forget()
    assert not index.index_path.exists() and not index.log_path.exists()
    assert index.load() is None


def test_records_round_trip_and_a_bad_line_ends_the_read() -> None:
    one = recordlog.encode({"base": "b1", "n": 1, "p": "caf\u00e9 \udcff"})
    two = recordlog.encode({"base": "b1", "n": 2})
    assert [r["n"] for r in recordlog.read(one + two, "b1").records] == [1, 2]
    assert recordlog.read(one + two, "b1").clean
    assert recordlog.read(one + two, "b1").records[0]["p"] == "caf\u00e9 \udcff"
    torn = recordlog.read(one + two[:-1], "b1")
    assert [r["n"] for r in torn.records] == [1] and not torn.clean
    zeros = recordlog.read(one + b"\0" * 64, "b1")
    assert len(zeros.records) == 1 and not zeros.clean
    foreign = recordlog.read(one + two, "b2")
    assert foreign.records == [] and not foreign.clean
    assert recordlog.read(b"", "b1").clean
