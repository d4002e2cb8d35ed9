"""The node's side of a pod, for the cases that act on it from the host (the local cluster's
node is this machine): the host processes of a container, and its mount namespace."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyodo_tasks import host
from pyodo_tasks.core.kube import Kube
from tests.chaos.workbench import MANAGED


def container_id(kube: Kube, pod_name: str, container: str = "runtime") -> str:
    pod = next(p for p in kube.pods(MANAGED) if p.metadata.name == pod_name)
    status = next(s for s in pod.status.container_statuses if s.name == container)
    return status.container_id.partition("://")[2]


def container_pids(cid: str) -> list[int]:
    """Host pids of the processes in the container ``cid`` (its cgroup names it); skips when
    none is visible (the node is not this machine)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if cid in (entry / "cgroup").read_text():
                    pids.append(int(entry.name))
            except OSError:
                continue
    if not pids:
        pytest.skip("the container's processes are not visible from here (not the local node)")
    return pids


def in_mounts_of(pid: int, argv: list[str]) -> None:
    """Run ``argv`` (``mount``/``umount``) in the mount namespace of process ``pid``."""
    host.run(["nsenter", "-t", str(pid), "-m", "--", *argv], timeout=30, what=" ".join(argv))
