"""Sync throughput against ``kubectl cp`` of the same tree: full, one-file, one big file."""

from __future__ import annotations

import os
import resource
import time
import uuid

from benchmarks.cluster import PY_DEVFILE, kubectl_cp, namespace, scratch, text_tree
from benchmarks.runner import Bench
from pyodo_tasks.core.component import Component
from pyodo_tasks.core.kube import Target


def _timed(func) -> float:
    started = time.perf_counter()
    func()
    return time.perf_counter() - started


def run(bench: Bench, quick: bool = False) -> None:
    trees = ((2_000, 8), (10_000, 4)) if not quick else ((500, 8),)
    big_mib = 200 if not quick else 20
    with namespace() as (ns, _kube), scratch("sync") as work:
        src = work / "bench"
        src.mkdir()
        (src / "devfile.yaml").write_text(PY_DEVFILE % {"name": "bench"})
        component = Component(src, Target(namespace=ns), environ={})
        try:
            component.apply()
            pod = component.wait_ready().metadata.name
            # the devfile alone: opens the agent (or finds none), so it is not in the timings
            bench.note(f"transport: {component.deliver(build=False).via}")
            for files, kib in trees:
                sub = src / f"t{files}"
                sub.mkdir()
                size = text_tree(sub, files, kib)
                mib = size / 2**20
                label = f"{files // 1000 if files >= 1000 else files}{'k' if files >= 1000 else ''}"
                full = _timed(component.sync)
                peer = kubectl_cp(ns, sub, pod, "py", f"/tmp/kcp-{uuid.uuid4().hex[:6]}")
                bench.figure(
                    f"full sync {label} files {mib:.0f} MiB",
                    full,
                    peer=peer,
                    peer_name="kubectl cp",
                    target="<= 0.67x kubectl cp (1.5x rate)",
                )
                bench.figure(
                    f"full sync {label} files rate",
                    mib / full,
                    "MiB/s",
                    peer=mib / peer,
                    peer_name="kubectl cp",
                )
                victim = next(sub.rglob("*.py"))
                victim.write_text(victim.read_text() + "# edited\n")
                one = _timed(component.sync)
                bench.figure(
                    f"one-file sync in {label} tree",
                    one,
                    peer=peer,
                    peer_name="kubectl cp (full copy)",
                )
                noop = _timed(component.sync)
                bench.figure(f"no-change sync {label} tree (index only)", noop)
            big = src / "big.bin"
            with big.open("wb") as f:
                for _ in range(big_mib):
                    f.write(os.urandom(1 << 20))
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            seconds = _timed(component.sync)
            grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss
            bigdir = work / "big"
            bigdir.mkdir()
            os.link(big, bigdir / "big.bin")
            peer = kubectl_cp(ns, bigdir, pod, "py", f"/tmp/kcp-{uuid.uuid4().hex[:6]}")
            bench.figure(f"{big_mib} MiB file", seconds, peer=peer, peer_name="kubectl cp")
            bench.figure(
                f"{big_mib} MiB file rate",
                big_mib / seconds,
                "MiB/s",
                peer=big_mib / peer,
                peer_name="kubectl cp",
            )
            bench.figure("peak RSS growth during it", grown, "MiB")
        finally:
            component.close()
