"""``--pyodo-teardown`` against the real cluster: a session that does not wait for its namespace
to be gone still leaves nothing, even when it is killed in the middle of its teardown."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sessions import (  # tests/cluster is on sys.path
    DEMO,
    NODEJS,
    clean_env,
    kill_group,
    kubeconfig_args,
    leftovers,
    run_id_of,
    run_pytest,
    stopped_session,
)

from pyodo_tasks.cluster import ClusterInfo
from pyodo_tasks.core.gc import RUN_ID_LABEL
from pyodo_tasks.core.kube import Kube

pytestmark = pytest.mark.cluster

#: The user's conftest.py of the killed run: the teardown's deletions stall once started (the
#: heartbeat stopped, the port-forwards closed, nothing deleted yet), so the test can kill it
#: there; ``STAMP`` says it got that far.
STALL_TEARDOWN = """
import time
from pathlib import Path

import pytest_pyodo.session as session

_end_of_run = session.end_of_run


def _stalled(*args, **kwargs):
    Path({stamp!r}).write_text("teardown began")
    time.sleep(300)
    return _end_of_run(*args, **kwargs)


session.end_of_run = _stalled
"""


def wait_gone(kube: Kube, run_id: str, timeout: float = 180.0) -> list[str]:
    """Namespaces of ``run_id`` that still exist, terminating or not, after waiting."""
    deadline = time.monotonic() + timeout
    while True:
        left = [ns.metadata.name for ns in kube.namespaces(f"{RUN_ID_LABEL}={run_id}")]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(2)


def test_a_run_killed_once_its_teardown_began_is_reaped_by_the_next_session(
    cluster_info: ClusterInfo, admin: Kube, tmp_path: Path
) -> None:
    stamp = tmp_path / "teardown-began"
    (tmp_path / "conftest.py").write_text(STALL_TEARDOWN.format(stamp=str(stamp)))
    (tmp_path / "test_quick.py").write_text(
        "def test_quick(pyodo_endpoint):\n    assert pyodo_endpoint.startswith('http')\n"
    )
    args = [str(tmp_path), f"--pyodo-component={NODEJS}", *kubeconfig_args(cluster_info)]
    _, output = stopped_session(
        args,
        cwd=tmp_path,
        env=clean_env("PYTEST_ADDOPTS"),
        stamp=stamp,
        never="the teardown never began",
        stop=kill_group,  # mid-teardown: no deletion asked for, no atexit
        poll=0.2,
        timeout=60,
        start_new_session=True,
    )
    print(output[-4000:])
    dead_run = run_id_of(output)
    assert leftovers(admin, dead_run) == [f"Namespace/pyodo-{dead_run}-main"]  # still Active
    proc2 = run_pytest(str(DEMO), f"--pyodo-component={NODEJS}", *kubeconfig_args(cluster_info))
    assert proc2.returncode == 0
    assert f"gc deleted dead runs' Namespace/pyodo-{dead_run}-main" in proc2.stdout
    assert leftovers(admin, dead_run) == []  # terminating at least...
    assert wait_gone(admin, dead_run) == []  # ...and then gone
    assert wait_gone(admin, run_id_of(proc2.stdout)) == []  # the reaping session's own too


def test_a_session_returns_before_its_namespace_is_gone_and_sooner_than_waiting(
    cluster_info: ClusterInfo, admin: Kube
) -> None:
    args = [str(DEMO), f"--pyodo-component={NODEJS}", *kubeconfig_args(cluster_info)]
    # The background run first: any cold start (images, caches) counts against it.
    started = time.monotonic()
    background = run_pytest(*args)
    background_wall = time.monotonic() - started
    assert background.returncode == 0 and "2 passed" in background.stdout
    run_id = run_id_of(background.stdout)
    namespace = f"pyodo-{run_id}-main"
    assert admin.namespace_phase(namespace) in (None, "Terminating")
    assert f"deleted namespace/{namespace} in " in background.stdout
    assert "(terminating in the background)" in background.stdout
    assert leftovers(admin, run_id) == []

    started = time.monotonic()
    waited = run_pytest(*args, "--pyodo-teardown=wait")
    waited_wall = time.monotonic() - started
    assert waited.returncode == 0 and "2 passed" in waited.stdout
    waited_ns = f"pyodo-{run_id_of(waited.stdout)}-main"
    assert admin.namespace_phase(waited_ns) is None  # gone before pytest returned
    assert "(terminating in the background)" not in waited.stdout
    print(f"wall time: background {background_wall:.1f}s, wait {waited_wall:.1f}s")
    assert background_wall < waited_wall
    assert wait_gone(admin, run_id) == []  # the background deletion finished on its own
