"""Peak RSS of ``doit dev`` watching a 100k-file tree (the index is held in memory)."""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.bench_index import generate
from benchmarks.cluster import PY_DEVFILE, namespace, scratch
from benchmarks.devloop import DevProcess
from benchmarks.runner import Bench


def _hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(bench: Bench, quick: bool = False) -> None:
    count = 10_000 if quick else 100_000
    with namespace() as (ns, kube), scratch("rss") as work:
        src = work / "big"
        src.mkdir()
        generate(src, count)
        (src / "devfile.yaml").write_text(PY_DEVFILE % {"name": "rss"})
        dev = DevProcess(src, "rss", ns, kube, work / "dev.log")
        try:
            started = time.monotonic()
            dev.wait_running(timeout=900)
            bench.figure(
                f"doit dev first start, {count // 1000}k files", time.monotonic() - started
            )
            time.sleep(3)  # a few idle watcher ticks
            bench.figure(
                f"doit dev peak RSS watching {count // 1000}k files", _hwm_mib(dev.proc.pid), "MiB"
            )
        finally:
            dev.stop()
