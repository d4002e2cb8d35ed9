"""Sync speed and memory against ``kubectl cp`` on the real cluster. Prints figures only.

    python benchmarks/bench_sync.py [--files 2000] [--kib 8] [--big-mib 200]

Pushes a generated component (python builder image), then times:
- a full first sync of N files vs ``kubectl cp`` of the same directory;
- a one-file edit: pyodo sends one file, ``kubectl cp`` has no incremental mode and copies all;
- a no-change sync (index scan only);
- peak RSS growth while syncing one large file (the tar is streamed, not held in memory).
Needs the cluster: ``eval "$(python -m pyodo_tasks.cluster env)"`` first.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from pyodo_tasks.core.component import Component
from pyodo_tasks.core.gc import run_labels
from pyodo_tasks.core.kube import Kube, Target

DEVFILE = """\
schemaVersion: 2.2.0
metadata: {name: bench}
components:
  - name: py
    container:
      image: localhost/pyodo/builder-python:bookworm
      endpoints: [{name: http, targetPort: 8080}]
commands:
  - id: run
    exec: {component: py, commandLine: python3 -m http.server 8080, group: {kind: run}}
"""


def timed(func) -> tuple[float, object]:
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--kib", type=int, default=8)
    parser.add_argument("--big-mib", type=int, default=200)
    args = parser.parse_args()
    kubectl = shutil.which("kubectl")
    work = Path(tempfile.mkdtemp(prefix="pyodo-bench-"))
    src = work / "bench"
    src.mkdir()
    (src / "devfile.yaml").write_text(DEVFILE)
    payload = os.urandom(args.kib * 1024)
    for i in range(args.files):
        sub = src / f"d{i % 50:02d}"
        sub.mkdir(exist_ok=True)
        (sub / f"f{i:05d}.txt").write_bytes(payload[: args.kib * 1024 - 8] + f"{i:08d}".encode())
    namespace = f"pyodo-bench-{uuid.uuid4().hex[:6]}"
    kube = Kube(Target(namespace=namespace))
    kube.ensure_namespace(namespace, run_labels("bench", 3600))
    component = Component(src, Target(namespace=namespace), environ={})
    try:
        component.apply()
        pod = component.wait_ready().metadata.name
        mib = args.files * args.kib / 1024
        print(f"tree: {args.files} files, {mib:.1f} MiB; pod {pod}")

        full, _ = timed(lambda: component.sync())
        rows: list[tuple[str, float, str]] = [("first sync (full)", full, "full")]
        peer_full = None
        if kubectl:
            cmd = [kubectl, "-n", namespace, "cp", str(src), f"{pod}:/tmp/kcp", "-c", "py"]
            peer_full, _ = timed(lambda: subprocess.run(cmd, check=True, capture_output=True))
        target = src / "d07" / "f00007.txt"
        target.write_bytes(b"edited\n")
        one, _ = timed(lambda: component.sync())
        rows.append(("one-file edit", one, "full"))
        noop, _ = timed(lambda: component.sync())
        rows.append(("no change (scan only)", noop, ""))

        big = src / "big.bin"
        with big.open("wb") as f:
            for _ in range(args.big_mib):
                f.write(os.urandom(1024 * 1024))
        rss_before = peak_rss_mib()
        big_t, _ = timed(lambda: component.sync())
        rss_growth = peak_rss_mib() - rss_before
        rows.append((f"{args.big_mib} MiB file", big_t, ""))

        print(f"{'case':28} {'pyodo':>9} {'kubectl cp':>11} {'ratio':>7}")
        for name, seconds, against in rows:
            # kubectl cp has no incremental mode: an edit costs the same full copy.
            peer = peer_full if against == "full" else None
            ratio = f"{peer / seconds:6.1f}x" if peer else "      -"
            peer_text = f"{peer:10.2f}s" if peer else "          -"
            print(f"{name:28} {seconds:8.2f}s {peer_text} {ratio}")
        print(
            f"{args.big_mib} MiB throughput: {args.big_mib / big_t:.0f} MiB/s; "
            f"peak RSS growth during it: {rss_growth:.0f} MiB (streamed, not buffered)"
        )
        print(
            "kubectl cp has no incremental mode: every edit costs a full copy "
            f"({peer_full:.2f}s here)"
            if peer_full
            else "(kubectl not on PATH: no peer figures)"
        )
    finally:
        component.close()
        kube.delete_namespace(namespace)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
