"""``python -m benchmarks.boot_loop [-n 20]``: N x (down, up, a pod runs) on the local cluster.

Why: the local cluster's boot once failed two times in four (a daemon checked right after its
start read as "exited"); the product's first command must work every time. This loop measures
that from a stopped cluster, the way a user runs it: each iteration runs ``python -m
pyodo_tasks.cluster down`` and ``... up`` as commands, then starts a pod of its own from the
python builder image and waits until it runs and prints. It prints each iteration's times or
its failure, a summary, and writes ``benchmarks/results/boot_loop.json``. A failure does not stop
the loop (the next ``down`` clears what it left); the cluster is left up at the end.

It takes the shared cluster down N times: not part of ``python -m benchmarks``.
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
from pyodo_tasks.cluster import get_provider
from pyodo_tasks.core.wait import wait_for
from pyodo_tasks.runtime.contract import BUILDER_REFS

POD = "pyodo-boot-loop"
GREETING = "pyodo boot loop: the pod runs"


def _pod(image: str) -> dict[str, Any]:
    code = f"import time; print({GREETING!r}, flush=True); time.sleep(3600)"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": POD, "namespace": "default", "labels": {"app": POD}},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": ["python3", "-c", code],
                }
            ],
        },
    }


class _Kubectl:
    def __init__(self, kubectl: Path, kubeconfig: Path) -> None:
        self.base = [str(kubectl), f"--kubeconfig={kubeconfig}"]

    def __call__(self, *args: str, stdin: str | None = None, check: bool = True) -> host.Result:
        return host.run(
            [*self.base, *args], input=stdin, timeout=60, what=f"kubectl {args[0]}", check=check
        )


def _pod_runs(kubectl: _Kubectl, timeout: float = 120.0) -> None:
    """Start the loop's pod and wait until it is Running and has printed its greeting."""
    kubectl("delete", "pod", POD, "--ignore-not-found", "--wait=false")
    kubectl("apply", "-f", "-", stdin=json.dumps(_pod(BUILDER_REFS["builder-python"])))

    def probe() -> tuple[bool | None, str]:
        got = kubectl("get", "pod", POD, "-o", "jsonpath={.status.phase}", check=False)
        phase = got.stdout.strip() or got.stderr.strip()[-120:]
        if phase != "Running":
            return None, phase
        logs = kubectl("logs", POD, check=False).stdout
        return (True if GREETING in logs else None), f"Running, log {logs.strip()[-80:]!r}"

    wait_for(probe, f"pod {POD} to run and print", timeout, interval=0.5)


def _cluster(command: str) -> float:
    """Run ``python -m pyodo_tasks.cluster COMMAND``; its time in seconds."""
    started = time.monotonic()
    host.run(
        [sys.executable, "-m", "pyodo_tasks.cluster", command],
        timeout=900,
        what=f"cluster {command}",
        env={"PYODO_CLUSTER_PROVIDER": "local"},
    )
    return round(time.monotonic() - started, 1)


def _iteration(number: int) -> dict[str, Any]:
    row: dict[str, Any] = {"iteration": number, "ok": False}
    step = "down"
    try:
        row["down_s"] = _cluster("down")
        step = "up"
        row["up_s"] = _cluster("up")
        info = get_provider("local").info()
        step = "pod"
        started = time.monotonic()
        _pod_runs(_Kubectl(info.kubectl or Path("kubectl"), info.kubeconfig))
        row["pod_s"] = round(time.monotonic() - started, 1)
        row["ok"] = True
    except Exception as exc:  # a failed iteration is a figure, not the end of the loop
        row["failed_in"] = step
        row["error"] = f"{type(exc).__name__}: {exc}"  # a command's error has its output tail
    return row


def _remove_pod() -> None:
    info = get_provider("local").info()
    kubectl = _Kubectl(info.kubectl or Path("kubectl"), info.kubeconfig)
    kubectl("delete", "pod", POD, "--ignore-not-found", "--wait=false", check=False)


def _passed(row: dict[str, Any]) -> str:
    total = row["down_s"] + row["up_s"] + row["pod_s"]
    return (
        f"down {row['down_s']:5.1f}s  up {row['up_s']:5.1f}s  "
        f"pod {row['pod_s']:5.1f}s  total {total:5.1f}s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.boot_loop", description=__doc__)
    parser.add_argument("-n", "--iterations", type=int, default=20)
    parser.add_argument(
        "--output", type=Path, default=RESULTS / "boot_loop.json", help="where to write results"
    )
    args = parser.parse_args(argv)
    started = datetime.now(timezone.utc)
    print(f"boot loop: {args.iterations} x (down, up, a pod runs) on the local cluster", flush=True)
    rows = run_loop(args.iterations, _iteration, _passed)
    _remove_pod()
    return write_loop(rows, ("down_s", "up_s", "pod_s"), started, args.output)


if __name__ == "__main__":
    sys.exit(main())
