"""The session engine's failure paths, driven directly (no pytest run, no cluster)."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from pyodo_tasks.core.kube import translate, translated
from pyodo_tasks.errors import ClusterError, WaitTimeout
from pytest_pyodo import connection, session
from pytest_pyodo.settings import Settings
from tests.fakes.kube import FakeKube


def StuckKube(objects: bool = True) -> FakeKube:
    """A namespace that never finishes terminating; objects that never go away."""
    kube = FakeKube("pyodo-run1-main")
    kube.stuck = True
    for name in ("gone-soon", "pyodo-run1-main"):
        kube.ensure_namespace(name, {})
    if objects:
        for namespace in ("ns", "pyodo-run1-main"):
            kube.apply(
                {
                    "kind": "Deployment",
                    "metadata": {
                        "name": "app",
                        "namespace": namespace,
                        "labels": {"pyodo.dev/run-id": "run1"},
                    },
                    "spec": {},
                }
            )
    return kube


def test_forbidden_is_recognised_from_the_engines_error() -> None:
    error = translate(ApiException(status=403, reason="Forbidden"), "create namespace x")
    assert isinstance(error, ClusterError)
    assert error.status == 403
    assert not error.retryable


def test_namespace_deletion_wait_is_bounded_and_names_the_phase() -> None:
    with pytest.raises(WaitTimeout, match=r"namespace gone-soon to be deleted.*Terminating"):
        session.delete_namespace(StuckKube(), "gone-soon", timeout=0.01)


def test_run_object_deletion_wait_is_bounded_and_names_what_is_left() -> None:
    with pytest.raises(WaitTimeout, match=r"Deployment/app"):
        session.delete_run_objects(StuckKube(), "ns", "run1", timeout=0.01)


def _run_with(
    cluster_kw: dict, kube: FakeKube, tmp_path: Path, **settings: object
) -> session.PyodoRun:
    run = session.PyodoRun(Settings(**settings), run_id="run1", state_dir=tmp_path)
    cluster = session.PyodoCluster(
        provider="kubeconfig",
        name="c",
        kubeconfig=tmp_path / "kc",
        context="ctx",
        namespace="pyodo-run1-main",
        server="",
        run_id="run1",
        worker="main",
        info=None,  # type: ignore[arg-type]
        **cluster_kw,
    )
    run._connection.established = cluster
    run._connection._kube = kube  # type: ignore[assignment]
    return run


def test_cleanup_reports_a_stuck_namespace_instead_of_raising(tmp_path: Path) -> None:
    kube = StuckKube()
    cluster = {"owns_namespace": True, "shared_namespace": False}
    run = _run_with(cluster, kube, tmp_path, teardown="wait")
    lines = run.cleanup(timeout=0.01)
    assert lines and lines[0].startswith("cleanup failed: timed out")
    assert "doit gc" in lines[0]
    assert kube.closed
    assert run.cleanup() == []  # idempotent


def test_cleanup_in_the_background_does_not_wait_for_a_stuck_namespace(tmp_path: Path) -> None:
    kube = StuckKube()
    run = _run_with({"owns_namespace": True, "shared_namespace": False}, kube, tmp_path)
    (line,) = run.cleanup(timeout=30.0)
    assert line.startswith("deleted namespace/pyodo-run1-main in 0.")
    assert line.endswith("(terminating in the background)")
    assert kube.namespace_phase("pyodo-run1-main") == "Terminating"


def test_cleanup_in_a_shared_namespace_deletes_by_run_label(tmp_path: Path) -> None:
    kube = StuckKube()
    kube.stuck = False  # the objects go at once
    run = _run_with({"owns_namespace": False, "shared_namespace": True}, kube, tmp_path)
    (line,) = run.cleanup()
    assert line.startswith("deleted Deployment/app in namespace/pyodo-run1-main")


def test_keep_deletes_nothing_and_says_how(tmp_path: Path) -> None:
    kube = StuckKube()
    run = _run_with({"owns_namespace": True, "shared_namespace": False}, kube, tmp_path, keep=True)
    (line,) = run.cleanup()
    assert "kubectl --context ctx delete namespace pyodo-run1-main" in line


def test_namespace_names_fit_a_dns_label() -> None:
    assert session.namespace_name("1a2b3c4d", "gw12") == "pyodo-1a2b3c4d-gw12"
    assert len(session.namespace_name("x" * 80, "gw0")) == 63


def test_connection_failures_become_one_line_cluster_errors() -> None:
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    refused = MaxRetryError(None, "/api", NewConnectionError(None, "Connection refused"))
    with (
        pytest.raises(ClusterError, match=r"^deploying app: the cluster did not answer \(") as info,
        translated("deploying app"),
    ):
        raise refused
    assert info.value.__cause__ is refused


@pytest.mark.parametrize(
    "info",
    [
        connection.ClusterInfo("kubeconfig", "c", Path("/k"), "ctx"),
        connection.ClusterInfo(
            "local",
            "pyodo",
            Path("/k"),
            "pyodo-local",
            "https://127.0.0.1:6443",
            Path("/r"),
            "pyodo-restricted",
            Path("/bin/kubectl"),
        ),
    ],
    ids=["minimal", "every-field"],
)
def test_the_cluster_info_one_worker_keeps_for_the_run_reads_back_equal(info) -> None:
    assert connection._info_from_json(connection._info_to_json(info)) == info
