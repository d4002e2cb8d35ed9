"""Isolation and cleanup: one labelled namespace per session and worker, always deleted."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Fake


def test_session_namespace_is_labelled_and_deleted_at_the_end(fake: Fake) -> None:
    fake.component("app")
    fake.endpoint_tests()
    result = fake.pytester.runpytest("--pyodo-component=app", "--pyodo-ttl=30m")
    result.assert_outcomes(passed=2)
    (created,) = fake.events("ensure_namespace")
    labels = created["labels"]
    run_id = labels["pyodo.dev/run-id"]
    assert created["name"] == f"pyodo-{run_id}-main"
    assert labels["app.kubernetes.io/managed-by"] == "pyodo"
    assert int(labels["pyodo.dev/expires"]) > 0
    (component,) = fake.events("component")
    assert component["labels"] == labels
    assert [e["name"] for e in fake.events("delete_namespace")] == [created["name"]]
    assert len(fake.events("gc")) == 1
    result.stdout.fnmatch_lines(["*- pyodo -*", f"deleted namespace/pyodo-{run_id}-main in *"])


def test_namespace_is_deleted_when_a_fixture_fails(fake: Fake) -> None:
    fake.component("app")
    fake.pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def broken(pyodo_component):
            raise RuntimeError("fixture broke")

        def test_uses_broken(broken):
            pass
        """
    )
    fake.pytester.runpytest("--pyodo-component=app").assert_outcomes(errors=1)
    assert len(fake.events("delete_namespace")) == 1


def test_namespace_is_deleted_on_ctrl_c(fake: Fake) -> None:
    fake.component("app")
    fake.pytester.makepyfile(
        """
        def test_interrupted(pyodo_endpoint):
            raise KeyboardInterrupt

        def test_never_runs():
            pass
        """
    )
    result = fake.pytester.runpytest_subprocess("--pyodo-component=app")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert len(fake.events("ensure_namespace")) == 1
    assert len(fake.events("delete_namespace")) == 1


def test_keep_leaves_the_namespace_and_says_how_to_delete_it(fake: Fake) -> None:
    fake.component("app")
    fake.endpoint_tests()
    result = fake.pytester.runpytest("--pyodo-component=app", "--pyodo-keep")
    result.assert_outcomes(passed=2)
    assert fake.events("delete_namespace") == []
    result.stdout.fnmatch_lines(
        ["kept namespace/pyodo-*-main (--pyodo-keep); delete it with `kubectl --context*"]
    )


def test_reuse_deploys_unlabelled_into_the_configured_namespace_and_deletes_nothing(
    fake: Fake,
) -> None:
    fake.component("app")
    fake.endpoint_tests()
    fake.pytester.runpytest("--pyodo-component=app", "--pyodo-reuse").assert_outcomes(passed=2)
    (component,) = fake.events("component")
    assert component["namespace"] == "fallback-ns"  # the kubeconfig context's namespace
    assert component["labels"] == {}
    assert component["state_dir"] is None  # the engine's own state, shared with `doit push`
    assert fake.events("ensure_namespace") == []
    assert fake.events("apply") == []  # no forced apply: a matching spec is reused as is
    assert fake.events("delete_namespace") == fake.events("delete_labelled") == []


def test_forbidden_namespace_creation_falls_back_and_cleans_up_by_label(
    fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYODO_FAKE_FORBID", "1")
    fake.component("app")
    fake.endpoint_tests()
    fake.pytester.runpytest("--pyodo-component=app").assert_outcomes(passed=2)
    (component,) = fake.events("component")
    assert component["namespace"] == "fallback-ns"
    run_id = component["labels"]["pyodo.dev/run-id"]
    assert [e["force"] for e in fake.events("apply")] == [True]  # our labels on what we use
    (deleted,) = fake.events("delete_labelled")
    assert deleted == {
        "event": "delete_labelled",
        "pid": deleted["pid"],
        "selector": f"pyodo.dev/run-id={run_id}",
        "namespace": "fallback-ns",
    }


def test_named_namespace_created_by_the_session_is_deleted(fake: Fake) -> None:
    fake.component("app")
    fake.endpoint_tests()
    fake.pytester.runpytest("--pyodo-component=app", "--pyodo-namespace=team-ci").assert_outcomes(
        passed=2
    )
    assert [e["name"] for e in fake.events("ensure_namespace")] == ["team-ci"]
    assert [e["name"] for e in fake.events("delete_namespace")] == ["team-ci"]


def test_xdist_workers_share_one_deployment_that_the_controller_deletes(fake: Fake) -> None:
    fake.component("app")
    fake.endpoint_tests(pairs=2)
    result = fake.pytester.runpytest_subprocess("--pyodo-component=app", "-n", "2")
    result.assert_outcomes(passed=4)
    created = {e["name"] for e in fake.events("ensure_namespace")}
    run_ids = {e["labels"]["pyodo.dev/run-id"] for e in fake.events("ensure_namespace")}
    assert len(run_ids) == 1
    (run_id,) = run_ids
    assert created == {f"pyodo-{run_id}-shared"}  # one namespace for the run, not per worker
    assert len(fake.events("push")) == 1  # deployed once; the workers attached
    pushers = {e["pid"] for e in fake.events("push")}
    deleters = {e["pid"] for e in fake.events("delete_namespace")}
    attachers = {e["pid"] for e in fake.events("wait_ready")}
    # The controller deploys it (as soon as a worker's collection says a test uses it) and
    # deletes it after the workers; both workers attach.
    assert deleters == pushers and len(attachers) == 2 and not attachers & pushers
    assert {e["name"] for e in fake.events("delete_namespace")} == created
    assert len(fake.events("up")) == 1  # one check of the cluster for the run, not per worker
    assert len(fake.events("gc")) == 1  # and one garbage collection
    result.stdout.fnmatch_lines([f"[[]controller] deleted namespace/pyodo-{run_id}-shared*"])


def test_xdist_own_copy_goes_to_the_workers_namespace_and_the_worker_deletes_it(
    fake: Fake,
) -> None:
    fake.component("app")
    fake.pytester.makepyfile(
        """
import pytest

pytestmark = pytest.mark.pyodo_component("app", shared=False)

def test_one(pyodo_component):
    assert pyodo_component.namespace.endswith(("-gw0", "-gw1"))

def test_two(pyodo_deploy):
    assert pyodo_deploy("app", shared=False).namespace.endswith(("-gw0", "-gw1"))
"""
    )
    result = fake.pytester.runpytest_subprocess("-n", "2", "--dist", "loadfile")
    result.assert_outcomes(passed=2)
    pushed = [e["namespace"] for e in fake.events("push")]
    assert len(pushed) == 1 and pushed[0].endswith(("-gw0", "-gw1"))
    result.stdout.fnmatch_lines([f"[[]gw?] deleted namespace/{pushed[0]} in *"])


def test_xdist_controller_deletes_objects_workers_shared(
    fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYODO_FAKE_FORBID", "1")
    fake.component("app")
    fake.endpoint_tests(pairs=2)
    result = fake.pytester.runpytest_subprocess("--pyodo-component=app", "-n", "2")
    result.assert_outcomes(passed=4)
    deletions = fake.events("delete_labelled")
    workers = {e["pid"] for e in fake.events("wait_ready")}
    assert len(deletions) == 1 and deletions[0]["pid"] not in workers  # the controller, once
    assert deletions[0]["namespace"] == "fallback-ns"
    result.stdout.fnmatch_lines(["*objects in shared namespace/fallback-ns are deleted by*"])


def test_a_session_without_pyodo_fixtures_never_contacts_the_cluster(fake: Fake) -> None:
    fake.component("app")
    fake.pytester.makepyfile("def test_plain():\n    pass\n")
    result = fake.pytester.runpytest_subprocess("--pyodo-component=app", "-n", "2")
    result.assert_outcomes(passed=1)
    assert fake.events() == []


def test_under_xdist_the_controller_deploys_what_the_collected_tests_use_and_workers_attach(
    fake: Fake,
) -> None:
    fake.component("app")
    fake.pytester.makeini("[pytest]\npyodo_component = app\n")
    fake.endpoint_tests(pairs=2)
    result = fake.pytester.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=4)
    (push,) = fake.events("push")
    controller = {e["pid"] for e in fake.events("delete_namespace")}
    workers = {e["pid"] for e in fake.events("wait_ready")}
    assert {push["pid"]} == controller and len(workers) == 2 and push["pid"] not in workers
    # The workers took the controller's connection: one cluster check, one namespace.
    assert len(fake.events("up")) == 1 and len(fake.events("ensure_namespace")) == 1


@pytest.mark.parametrize("module", ["pyodo_tasks", "pytest_pyodo.session", "pytest_pyodo.settings"])
def test_engine_and_session_logic_never_import_pytest(module: str) -> None:
    code = (
        f"import sys, importlib; importlib.import_module({module!r}); "
        "import pyodo_tasks.core.component, pyodo_tasks.core.gc, pyodo_tasks.cluster; "
        "sys.exit('pytest' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_workers_whose_pyodo_config_differs_connect_themselves(fake: Fake) -> None:
    fake.component("app")
    conftest = fake.pytester.path / "conftest.py"  # the fake engine's: keep it, add to it
    conftest.write_text(
        conftest.read_text() + "\n\n@pytest.fixture(scope='session')\n"
        "def pyodo_config(pyodo_config):\n"
        "    import dataclasses\n\n"
        "    return dataclasses.replace(pyodo_config, ttl=60)\n"
    )
    fake.endpoint_tests(pairs=2)
    result = fake.pytester.runpytest_subprocess("--pyodo-component=app", "-n", "2")
    result.assert_outcomes(passed=4)
    # Not the controller's connection (other settings): each worker checked for itself.
    assert len(fake.events("ensure_namespace")) == 3
