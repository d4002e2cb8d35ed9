"""``python -m benchmarks [NAME ...] [--quick]``: run pyodo's benchmarks, print every figure and
write ``benchmarks/results/<name>.json`` (plus ``latency.png``). Nothing is asserted.

Cluster benchmarks need the local cluster: ``python -m pyodo_tasks.cluster up`` and
``eval "$(python -m pyodo_tasks.cluster env)"`` first.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable

from benchmarks.runner import Bench, machine

#: name -> (what, needs the cluster)
BENCHMARKS: dict[str, tuple[str, bool]] = {
    "index": ("no-change and full index of 10k/100k files vs git status", False),
    "sync": ("full and one-file sync vs kubectl cp (2k, 10k files, one 200 MiB file)", True),
    "latency": ("doit dev save->serving p50/p95 over >= 20 edits (nodejs, python)", True),
    "push": ("doit push no-op and one edit to served", True),
    "first_push": ("first push of a fresh pod: agent injected vs the init container", True),
    "fixture": ("pytest fixture first deploy and --pyodo-reuse", True),
    "first_test": ("pytest time to first test: serial, -n 4 shared/per worker, reuse", True),
    "first_test_timeline": ("where the time to first test goes, per process, -n 4", True),
    "pytest_wall": ("pytest wall time and first test: serial/-n 2/-n 4, fresh/reuse, floor", True),
    "deploy_all": ("several components deployed one after the other vs at once", True),
    "rss": ("peak RSS of doit dev watching 100k files", True),
    "large": ("10k/100k/1M files: index vs git status, first sync vs kubectl cp, doit dev", True),
}


def _load(name: str) -> Callable[..., None]:
    module = __import__(f"benchmarks.{name}", fromlist=["run"])
    return module.run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"which (default all): {', '.join(BENCHMARKS)}")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller trees and fewer edits (a smoke run, not the figures)",
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, (what, cluster) in BENCHMARKS.items():
            print(f"{name:8} {what}{' (cluster)' if cluster else ''}")
        return 0
    names = args.names or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    info = machine()
    print(
        f"machine: {info['cpus']} cpus ({info['cpu_model']}), {info['memory_mib']} MiB, "
        f"Python {info['python']}, Kubernetes {info['kubernetes_server'] or '?'}, "
        f"websocket masking: {info['websocket_masking']}, commit {info['commit']}"
    )
    failed = []
    for name in names:
        print(f"\n== {name}: {BENCHMARKS[name][0]}", flush=True)
        bench = Bench(name)
        try:
            kwargs = {"quick": True} if args.quick else {}
            _load(name)(bench, **kwargs)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one broken benchmark must not lose the others' figures
            traceback.print_exc()
            bench.note(f"FAILED: {type(exc).__name__}: {exc}")
            failed.append(name)
        path = bench.write(info)
        print(f"  -> {path}")
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
