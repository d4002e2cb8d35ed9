"""How a session ends, on the real cluster: interrupted, killed, or not waiting for its namespace
to be gone (``--pyodo-teardown``), a session leaves nothing behind, or the next one reaps it."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from sessions import (  # tests/cluster is on sys.path
    SESSION_TIMEOUT,
    clean_env,
    kill_group,
    leftovers,
    run_id_of,
    run_pytest,
    session_args,
    stopped_session,
)

from pyodo_tasks.cluster import ClusterInfo
from pyodo_tasks.core.gc import RUN_ID_LABEL
from pyodo_tasks.core.kube import Kube

pytestmark = pytest.mark.cluster

#: A test that writes ``started`` and then sleeps: the session is stopped in the middle of it.
SLOW_TEST = """
import time
from pathlib import Path


def test_slow(pyodo_endpoint):
    Path({stamp!r}).write_text("x")
    time.sleep(300)
"""

#: The user's conftest.py of a run killed in its teardown: the teardown's deletions stall once
#: started (the heartbeat stopped, the port-forwards closed, nothing deleted yet), so the test
#: can kill it there; ``stamp`` says it got that far.
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

QUICK_TEST = "def test_quick(pyodo_endpoint):\n    assert pyodo_endpoint.startswith('http')\n"


def wait_gone(kube: Kube, run_id: str, timeout: float = 180.0) -> list[str]:
    """Namespaces of ``run_id`` that still exist, terminating or not, after waiting."""
    deadline = time.monotonic() + timeout
    while True:
        left = [ns.metadata.name for ns in kube.namespaces(f"{RUN_ID_LABEL}={run_id}")]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(2)


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_during_a_test_still_deletes_the_namespace(
    cluster_info: ClusterInfo, admin: Kube, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    (tmp_path / "test_slow.py").write_text(SLOW_TEST.format(stamp=str(started)))
    proc, output = stopped_session(
        session_args(cluster_info, tmp_path),
        cwd=tmp_path,
        env=clean_env(),
        stamp=started,
        never="the test never started",
        stop=lambda proc: proc.send_signal(signal.SIGINT),
        poll=0.5,
        timeout=SESSION_TIMEOUT,
        # A terminal's Ctrl-C: SIGINT at its default in the session, also when this suite itself
        # runs as a script's background job, where SIGINT starts ignored and the child would
        # inherit that (FINDINGS) and sleep through the signal.
        preexec_fn=_sigint_default,
    )
    print(output[-4000:])
    assert proc.returncode == pytest.ExitCode.INTERRUPTED
    assert "deleted namespace/pyodo-" in output
    assert leftovers(admin, run_id_of(output)) == []


@pytest.mark.parametrize(
    ("files", "killed_at"),
    [
        ({"test_slow.py": SLOW_TEST}, "the test started"),  # a cancelled CI job
        ({"conftest.py": STALL_TEARDOWN, "test_quick.py": QUICK_TEST}, "the teardown began"),
    ],
    ids=["during-a-test", "in-its-teardown"],
)
def test_a_killed_runs_namespace_is_reaped_by_the_next_session(
    cluster_info: ClusterInfo, admin: Kube, tmp_path: Path, files: dict[str, str], killed_at: str
) -> None:
    stamp = tmp_path / "stamp"
    for name, text in files.items():
        (tmp_path / name).write_text(text.format(stamp=str(stamp)))
    _, output = stopped_session(
        session_args(cluster_info, tmp_path),
        cwd=tmp_path,
        env=clean_env("PYTEST_ADDOPTS"),
        stamp=stamp,
        never=f"never got to where {killed_at}",
        stop=kill_group,  # no teardown (no deletion asked for), no atexit
        poll=0.2,
        timeout=60,
        start_new_session=True,
    )
    print(output[-4000:])
    dead_run = run_id_of(output)
    assert leftovers(admin, dead_run) == [f"Namespace/pyodo-{dead_run}-main"]  # still Active
    proc2 = run_pytest(*session_args(cluster_info))
    assert proc2.returncode == 0
    assert f"gc deleted dead runs' Namespace/pyodo-{dead_run}-main" in proc2.stdout
    assert leftovers(admin, dead_run) == []  # terminating at least...
    assert wait_gone(admin, dead_run) == []  # ...and then gone
    assert wait_gone(admin, run_id_of(proc2.stdout)) == []  # the reaping session's own too


def test_a_session_returns_before_its_namespace_is_gone_and_sooner_than_waiting(
    cluster_info: ClusterInfo, admin: Kube
) -> None:
    args = session_args(cluster_info)
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
