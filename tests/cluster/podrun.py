"""kubectl as the admin, and a one-shot pod run to its end: shared by the cluster tests that
check what a pod sees (test_cluster_dns_real.py, test_listeners_real.py)."""

from __future__ import annotations

import json
import subprocess

from pyodo_tasks.cluster import ClusterInfo
from pyodo_tasks.core.wait import wait_for


def kubectl(info: ClusterInfo, *args: str, stdin: str | None = None) -> str:
    """Run the cluster's kubectl as its admin; fail the test with kubectl's stderr."""
    argv = [str(info.kubectl), f"--kubeconfig={info.kubeconfig}", f"--context={info.context}"]
    proc = subprocess.run(
        [*argv, *args], input=stdin, capture_output=True, text=True, timeout=180, check=False
    )
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr[-600:]}"
    return proc.stdout


def run_pod(info: ClusterInfo, pod: dict, timeout: float = 120) -> tuple[str, str]:
    """Create ``pod`` (``restartPolicy: Never``), wait until it ends; its phase and log."""
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    kubectl(info, "apply", "-f", "-", stdin=json.dumps(pod))

    def finished() -> tuple[str | None, str]:
        phase = kubectl(info, "-n", namespace, "get", "pod", name, "-o", "jsonpath={.status.phase}")
        return (phase if phase in ("Succeeded", "Failed") else None), phase

    phase = wait_for(finished, f"pod {name} to finish", timeout, interval=1.0)
    return phase, kubectl(info, "-n", namespace, "logs", name)
