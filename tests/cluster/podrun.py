"""kubectl as the admin, and a one-shot pod run to its end: shared by the cluster tests that
check what a pod sees (test_cluster_dns_real.py, test_listeners_real.py)."""

from __future__ import annotations

import json
import subprocess

from pyodo_tasks.cluster import ClusterInfo
from pyodo_tasks.core.wait import wait_for
from pyodo_tasks.runtime.contract import BUILDER_REFS

#: The image a probe pod runs: one the local cluster always has (the python builder), named
#: where the product names it. A tag copied here by hand went stale when the image's tag changed
#: and only a fresh machine, without the old image left in containerd, showed it.
PROBE_IMAGE = BUILDER_REFS["builder-python"]

#: A container waiting for one of these will not start by itself: fail at once, saying why.
_STUCK = {
    "ErrImageNeverPull",
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
}


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
        status = json.loads(kubectl(info, "-n", namespace, "get", "pod", name, "-o", "json"))
        status = status.get("status", {})
        phase = status.get("phase", "")
        for container in status.get("containerStatuses", []):
            waiting = container.get("state", {}).get("waiting", {})
            assert waiting.get("reason") not in _STUCK, f"pod {name}: {waiting}"
        return (phase if phase in ("Succeeded", "Failed") else None), phase

    phase = wait_for(finished, f"pod {name} to finish", timeout, interval=1.0)
    return phase, kubectl(info, "-n", namespace, "logs", name)
