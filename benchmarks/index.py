"""The file index against ``git status``: no-change rescan and full index, 10k and 100k files."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks.bench_index import Timing, _git_commit_all, generate, git, median_of, paired, timed
from benchmarks.runner import Bench
from pyodo_tasks.core import refresh
from pyodo_tasks.core.index import FileIndex


def run(bench: Bench, quick: bool = False, repeat: int = 5) -> None:
    sizes = (2_000, 10_000) if quick else (10_000, 100_000)
    for count in sizes:
        _one(bench, count, repeat)


def _one(bench: Bench, count: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory(
        prefix=f"pyodo-bench-index-{count}-", ignore_cleanup_errors=True
    ) as tmp:
        root = Path(tmp)
        generate(root, count)
        idx = FileIndex(root)

        def full_index() -> None:
            idx.index_path.unlink(missing_ok=True)
            _, snap = idx.changes()
            idx.commit(snap)

        full = timed(full_index)
        git_add = timed(lambda: _git_commit_all(root))
        label = f"{count // 1000}k files"
        bench.figure(
            f"full index {label} (wall)",
            full.wall,
            peer=git_add.wall,
            peer_name="git add+commit",
        )
        # A new FileIndex each time, as each `doit push` process has: a kept one would hand
        # back the snapshot it committed instead of reading the index file.
        target = "<= 1.5x git status" if count >= 100_000 else ""
        ours, theirs, _ = nochange_vs_git(
            bench, label, lambda: FileIndex(root), lambda: git(root, "status", "--porcelain"),
            repeat, target,
        )  # fmt: skip
        floor = median_of(repeat, lambda: python_stat_walk(root))
        bench.figure(
            f"bare Python lstat walk {label} (wall)",
            floor.wall,
            peer=theirs.wall,
            peer_name="git status",
        )
        bench.raw[f"{count}"] = {
            "python_stat_walk_wall": floor.wall,
            "full_wall": full.wall,
            "full_cpu": full.cpu,
            "git_add_commit_wall": git_add.wall,
            "nochange_wall": ours.wall,
            "nochange_cpu": ours.cpu,
            "git_status_wall": theirs.wall,
            "git_status_cpu": theirs.cpu,
        }


def nochange_vs_git(
    bench: Bench,
    label: str,
    new_index: Callable[[], FileIndex],
    git_status: Callable[[], object],
    repeat: int,
    target: str,
) -> tuple[Timing, Timing, Timing]:
    """A push's no-change index (each time a new :class:`FileIndex`, as each ``doit push``
    process has) and ``git status`` run by turns, then the full walk: their figures, and the
    three timings."""
    ours, theirs = paired(repeat, lambda: refresh.changes(new_index()), git_status)
    nochange_figures(bench, label, ours, theirs, target)
    walked = median_of(repeat, lambda: new_index().changes())
    bench.figure(
        f"no-change index {label}, full walk (cpu)",
        walked.cpu,
        peer=theirs.cpu,
        peer_name="git status",
    )
    return ours, theirs, walked


def nochange_figures(bench: Bench, label: str, ours: Timing, theirs: Timing, target: str) -> None:
    """The no-change index's (a push's: the refresh by stat, :mod:`pyodo_tasks.core.refresh`)
    CPU and wall figures against ``git status``'s. The goal is on CPU: git's preload-index
    stats in threads, which on this 2-core machine halves its wall time, not its work."""
    bench.figure(
        f"no-change index {label} (cpu)",
        ours.cpu,
        peer=theirs.cpu,
        peer_name="git status",
        target=target,
    )
    bench.figure(
        f"no-change index {label} (wall)", ours.wall, peer=theirs.wall, peer_name="git status"
    )


def python_stat_walk(root: Path) -> int:
    """Python's floor for a rescan: list every directory and ``lstat`` every entry, nothing
    else (no index, no ignore rules, no comparison). What no pure-Python index gets under."""
    count = 0
    pending = [os.fspath(root)]
    while pending:
        directory = pending.pop()
        for name in os.listdir(directory):
            path = f"{directory}/{name}"
            if os.lstat(path).st_mode & 0o170000 == 0o040000:
                pending.append(path)
            count += 1
    return count
