"""``doit dev`` when the app's container is killed from the host, and when its pod is deleted.

The container is killed as the node would see an OOM kill or a crash of its init: SIGKILL to
every host process in its cgroup (found by the container id the pod's status names). The
kubelet starts a new container instance in the same pod; then the pod itself is deleted and
the Deployment makes a new one. Each time the loop must notice, sync into the new instance
(its sources are the whole tree again), and serve the app on the same local port, with the
status saying so.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from pyodo_tasks.dev.state import Status
from tests.chaos.node import container_id, container_pids
from tests.chaos.workbench import Workbench
from tests.cluster.test_dev_real import ANSWER, running

pytestmark = [pytest.mark.chaos, pytest.mark.cluster]

RECOVERY_TIMEOUT = 120.0


def kill_container(bench: Workbench, pod_name: str) -> None:
    """SIGKILL every process of the pod's app container from the host."""
    for pid in container_pids(container_id(bench.kube, pod_name)):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue


def recovered(dev, before: Status, what: str) -> tuple[Status, float]:  # type: ignore[no-untyped-def]
    """Wait until the loop reconciled after ``before`` and the app answers; status, seconds."""
    started = time.monotonic()
    status = dev.wait_status(
        what,
        lambda s: (
            running(s)
            and s.observed_generation >= before.observed_generation
            and s.updated != before.updated
        ),
        RECOVERY_TIMEOUT,
    )
    dev.wait_answer(ANSWER, RECOVERY_TIMEOUT)
    return status, time.monotonic() - started


def test_dev_recovers_from_a_killed_container_and_a_deleted_pod(
    bench: Workbench, record_property: pytest.RecordProperty
) -> None:
    dev, first = bench.serving_dev()
    port = first.ports[0].local_port

    kill_container(bench, first.pod)
    after_kill, kill_seconds = recovered(dev, first, "a new container synced and running")
    assert after_kill.pod == first.pod, "the same pod: the kubelet restarted its container"
    assert "(full index)" in after_kill.last_sync, after_kill.last_sync

    bench.kube.delete_pod(after_kill.pod, bench.namespace)
    after_delete, delete_seconds = recovered(dev, after_kill, "a new pod synced and running")
    assert after_delete.pod != first.pod
    assert "(full index)" in after_delete.last_sync, after_delete.last_sync
    assert after_delete.ports[0].local_port == port, "the same local port throughout"

    figures = {
        "killed_container_s": round(kill_seconds, 1),
        "deleted_pod_s": round(delete_seconds, 1),
    }
    print(f"doit dev serving again after: {figures}")
    for name, value in figures.items():
        record_property(name, value)
    bench.stop_all()
    assert "Traceback" not in dev.log_tail(400)
    bench.assert_nothing_left()
