"""``python -m benchmarks.kind_loop [-n 5]``: N x (kind up, a pod resolves a name, kind down).

Why: the kind path's lifecycle once failed with a ClusterError nobody investigated, and a kind
cluster is created at least once per ``./run test``. This loop measures the whole life of a kind
cluster from the node image built here (``PYODO_KIND_IMAGE=pyodo``), the way the provider runs
it: ``KindProvider.up()`` (create; returns once CoreDNS is available), ``kind load`` of the python
builder image, a pod from it resolves ``kubernetes.default`` through cluster DNS, then
``down()``. Each iteration's times or its
failure are printed, then min/median/max; results go to ``benchmarks/results/kind_loop.json``.

It uses its own cluster name, so the kind cluster of ``./run test`` is left alone; pyodo's dockerd
is stopped at the end when no kind cluster is left. Not part of ``python -m benchmarks``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks.runner import RESULTS, run_loop, write_loop
from pyodo_tasks import host
from pyodo_tasks.core.wait import wait_for
from pyodo_tasks.runtime.contract import BUILDER_REFS
from pyodo_tasks.testbed import gobuild
from pyodo_tasks.testbed.images import ensure_images
from pyodo_tasks.testbed.kind import LOCAL_NODE_IMAGE, KindProvider

CLUSTER = "pyodo-kind-loop"
POD = "resolver"
SCRIPT = "import socket; print(socket.gethostbyname('kubernetes.default'))"


def _pod(image: str) -> dict[str, Any]:
    container = {
        "name": "main",
        "image": image,
        "imagePullPolicy": "Never",
        "command": ["python3", "-c", SCRIPT],
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": POD, "namespace": "default"},
        "spec": {"restartPolicy": "Never", "containers": [container]},
    }


def _kubectl(provider: KindProvider, *args: str, stdin: str | None = None) -> host.Result:
    kubectl = gobuild.ensure_kube_binaries() / "kubectl"
    argv = [str(kubectl), f"--kubeconfig={provider.kubeconfig}", *args]
    return host.run(argv, input=stdin, timeout=60, what=f"kubectl {args[0]}", check=False)


def _resolves(provider: KindProvider, timeout: float = 120.0) -> str:
    """Run the resolver pod to completion; return the address it printed."""
    _kubectl(provider, "apply", "-f", "-", stdin=json.dumps(_pod(BUILDER_REFS["builder-python"])))

    def probe() -> tuple[str | None, str]:
        got = _kubectl(provider, "get", "pod", POD, "-o", "jsonpath={.status.phase}")
        phase = got.stdout.strip() or got.stderr.strip()[-120:]
        if phase == "Failed":
            logs = _kubectl(provider, "logs", POD).stdout
            raise RuntimeError(f"resolver pod failed: {logs.strip()[-400:]}")
        if phase != "Succeeded":
            return None, phase
        return _kubectl(provider, "logs", POD).stdout.strip(), phase

    return wait_for(probe, f"pod {POD} to resolve kubernetes.default", timeout, interval=0.5)


def _iteration(number: int) -> dict[str, Any]:
    row: dict[str, Any] = {"iteration": number, "ok": False}
    provider = KindProvider(CLUSTER, node_image=LOCAL_NODE_IMAGE, load_pyodo_images=False)
    step = "up"
    try:
        started = time.monotonic()
        provider.up()
        row["up_s"] = round(time.monotonic() - started, 1)
        step = "load"
        started = time.monotonic()
        provider.load_image(ensure_images(["builder-python"])["builder-python"])
        row["load_s"] = round(time.monotonic() - started, 1)
        step = "dns"
        started = time.monotonic()
        row["address"] = _resolves(provider)
        row["dns_s"] = round(time.monotonic() - started, 1)
        step = "down"
        started = time.monotonic()
        provider.down()
        row["down_s"] = round(time.monotonic() - started, 1)
        row["ok"] = True
    except Exception as exc:  # a failed iteration is a figure, not the end of the loop
        row["failed_in"] = step
        row["error"] = f"{type(exc).__name__}: {exc}"
        try:
            provider.down()
        except Exception as again:
            row["down_error"] = f"{type(again).__name__}: {again}"
    return row


def _passed(row: dict[str, Any]) -> str:
    return (
        f"up {row['up_s']:5.1f}s  load {row['load_s']:5.1f}s  "
        f"resolve {row['dns_s']:5.1f}s ({row['address']})  down {row['down_s']:5.1f}s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kind_loop", description=__doc__)
    parser.add_argument("-n", "--iterations", type=int, default=5)
    parser.add_argument(
        "--output", type=Path, default=RESULTS / "kind_loop.json", help="where to write results"
    )
    args = parser.parse_args(argv)
    started = datetime.now(timezone.utc)
    print(f"kind loop: {args.iterations} x (up, load, resolve, down), cluster {CLUSTER}")
    rows = run_loop(args.iterations, _iteration, _passed)
    return write_loop(rows, ("up_s", "load_s", "dns_s", "down_s"), started, args.output)


if __name__ == "__main__":
    sys.exit(main())
