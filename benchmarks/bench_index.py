"""How fast is the indexer compared with ``git status``? Prints figures; asserts nothing.

    python benchmarks/bench_index.py            # 10k and 50k files
    python benchmarks/bench_index.py --files 2000 --repeat 5

For each size it generates a tree (files of 200 B-8 KiB over nested directories, a root
``.gitignore`` and some ignored files), backdates every mtime (a checked-out tree nobody is
editing; otherwise both pyodo and git would re-check "racy" entries by content), then times:

* full index: pyodo ``changes()`` + ``commit()`` without content reads, and the first push's
  tar stream (which hashes every file) for reference; git ``add -A`` + ``commit``;
* no-change rescan: pyodo ``changes()``; git ``status --porcelain``;
* one-file change (append to one file) and one-file touch (new mtime, same content).

Each rescan figure is the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from pyodo_tasks.core.index import FileIndex
from pyodo_tasks.core.tarball import build_tar

GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}
OLD = time.time() - 86_400


def generate(root: Path, count: int, seed: int = 7) -> list[Path]:
    """``count`` tracked files, ~50 per directory, three levels deep, plus ignored noise."""
    rng = random.Random(seed)
    files = []
    for i in range(count):
        d = root / f"pkg{i // 2500:02d}" / f"mod{(i // 250) % 10}" / f"sub{(i // 50) % 5}"
        if i % 50 == 0:
            d.mkdir(parents=True, exist_ok=True)
        path = d / f"file{i:06d}.py"
        path.write_bytes(rng.randbytes(rng.randint(200, 8192)))
        files.append(path)
    (root / ".gitignore").write_text("*.log\nbuild/\n__pycache__/\n")
    for i in range(count // 100):  # 1% ignored noise, and one ignored directory
        (files[i * 100].parent / f"run{i}.log").write_text("log line\n")
    (root / "build").mkdir()
    for i in range(200):
        (root / "build" / f"out{i}.o").write_bytes(b"\0" * 512)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (OLD, OLD))
    return files


class Timing(NamedTuple):
    """Wall-clock and CPU seconds (this process plus finished children, i.e. git)."""

    wall: float
    cpu: float


def _cpu() -> float:
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + child.ru_utime + child.ru_stime


def timed(fn: Callable[[], object]) -> Timing:
    wall, cpu = time.perf_counter(), _cpu()
    fn()
    return Timing(time.perf_counter() - wall, _cpu() - cpu)


def median_of(repeat: int, fn: Callable[[], object]) -> Timing:
    runs = [timed(fn) for _ in range(repeat)]
    return Timing(statistics.median(r.wall for r in runs), statistics.median(r.cpu for r in runs))


def paired(
    repeat: int, ours: Callable[[], object], theirs: Callable[[], object]
) -> tuple[Timing, Timing]:
    """Medians of ``ours`` and ``theirs`` run by turns: on a machine shared with other work,
    a burst of load then falls on both instead of on one of them."""
    runs = [(timed(ours), timed(theirs)) for _ in range(repeat)]
    mine, peer = [r[0] for r in runs], [r[1] for r in runs]
    return (
        Timing(statistics.median(r.wall for r in mine), statistics.median(r.cpu for r in mine)),
        Timing(statistics.median(r.wall for r in peer), statistics.median(r.cpu for r in peer)),
    )


def git(root: Path, *args: str) -> None:
    quiet = ["-c", "gc.auto=0", "-c", "maintenance.auto=false"]  # no background work in .git
    cmd = ["git", "-C", str(root), *quiet, *args]
    subprocess.run(cmd, check=True, env=GIT_ENV, capture_output=True)


def bench(count: int, repeat: int, keep: bool) -> None:
    # ignore_cleanup_errors: a straggling git child may still write to .git during cleanup
    with tempfile.TemporaryDirectory(
        prefix=f"pyodo-bench-{count}-", ignore_cleanup_errors=True
    ) as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        files = generate(root, count)
        print(f"\n== {count} files ({time.perf_counter() - started:.1f}s to generate)")
        idx = FileIndex(root)
        victim = files[len(files) // 2]
        rel = victim.relative_to(root).as_posix()
        bump = [OLD]

        def full_index() -> None:
            idx.index_path.unlink(missing_ok=True)
            _, snap = idx.changes()
            idx.commit(snap)

        def first_push() -> None:
            idx.index_path.unlink(missing_ok=True)
            changes, snap = idx.changes()
            for _chunk in build_tar(root, changes.to_send(), snap):
                pass
            idx.commit(snap)

        def edit() -> None:
            with victim.open("ab") as f:
                f.write(b"x")

        def touch() -> None:
            bump[0] += 10
            os.utime(victim, (bump[0], bump[0]))

        def one_change() -> None:
            edit()
            changes, _ = idx.changes()
            assert changes.modified == (rel,), changes

        def one_change_push() -> None:
            edit()
            changes, snap = idx.changes()
            b"".join(build_tar(root, changes.to_send(), snap))
            idx.commit(snap)

        def one_touch() -> None:
            touch()
            changes, _ = idx.changes()
            assert not changes and changes.touched == (rel,), changes

        def status() -> None:
            git(root, "status", "--porcelain")

        def edit_status() -> None:
            edit()
            status()

        def touch_status() -> None:
            touch()
            status()

        rows: list[tuple[str, Timing | None, Timing | None]] = [
            ("full index (stat only) + commit", timed(full_index), None),
            ("first push: index + tar all + commit", timed(first_push), None),
            ("git init + add -A + commit", None, timed(lambda: _git_commit_all(root))),
            (
                "no-change rescan",
                median_of(repeat, lambda: FileIndex(root).changes()),  # as a new process
                median_of(repeat, status),
            ),
            (
                "one-file change (detect)",
                median_of(repeat, one_change),
                median_of(repeat, edit_status),
            ),
        ]
        one_change_push()  # bring the index up to date with the git rows' edits
        rows.append(
            ("one-file change: detect+tar+commit", median_of(repeat, one_change_push), None)
        )
        touched = median_of(repeat, one_touch), median_of(repeat, touch_status)
        rows.append(("one-file touch (same content)", *touched))

        print(f"   index.json {idx.index_path.stat().st_size / 1e6:.1f} MB; median of {repeat}")
        head = f"{'pyodo':>8} {'git':>8} {'ratio':>6}"
        print(f"   {'scenario (wall clock | cpu time)':38} {head}   {head}")
        for name, ours, theirs in rows:
            walls = _cells(ours and ours.wall, theirs and theirs.wall)
            cpus = _cells(ours and ours.cpu, theirs and theirs.cpu)
            print(f"   {name:38} {walls}   {cpus}")
        if keep:
            input(f"tree kept at {root}; press Enter to delete it ")


def _git_commit_all(root: Path) -> None:
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "bench")


def _cells(ours: float | None, theirs: float | None) -> str:
    o = f"{ours * 1000:6.0f}ms" if ours is not None else " " * 8
    t = f"{theirs * 1000:6.0f}ms" if theirs is not None else " " * 8
    r = f"{ours / theirs:5.1f}x" if ours and theirs else " " * 6
    return f"{o} {t} {r}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="pause before deleting the tree")
    args = parser.parse_args()
    for count in args.files:
        bench(count, args.repeat, args.keep)


if __name__ == "__main__":
    main()
