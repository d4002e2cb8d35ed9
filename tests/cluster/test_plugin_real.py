"""The pytest plugin against the real cluster: whole pytest sessions run as subprocesses.

Each test runs ``pytest`` on a user's test file with ``--pyodo-component=examples/nodejs``,
checks the outcome, reads the run id from the report header, and then asserts that nothing
labelled with that run id is left: no namespace and no object.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from sessions import (  # tests/cluster is on sys.path
    DEMO,
    NODEJS,
    ROOT,
    SESSION_TIMEOUT,
    clean_env,
    kubeconfig_args,
    leftovers,
    run_id_of,
    run_pytest,
    session_args,
)

from pyodo_tasks.cluster import ClusterInfo
from pyodo_tasks.core.kube import Kube, ResolvedTarget
from tests import commands

pytestmark = pytest.mark.cluster


@pytest.mark.kind
def test_users_test_file_passes_serially_and_leaves_nothing(
    cluster_info: ClusterInfo, admin: Kube
) -> None:
    proc = run_pytest(*session_args(cluster_info))
    assert proc.returncode == 0
    assert "2 passed" in proc.stdout
    run_id = run_id_of(proc.stdout)
    assert f"deleted namespace/pyodo-{run_id}-main" in proc.stdout
    assert leftovers(admin, run_id) == []


@pytest.mark.kind
def test_four_workers_share_one_deployment_that_is_gone_after_the_run(
    cluster_info: ClusterInfo, admin: Kube, tmp_path: Path
) -> None:
    seen = tmp_path / "seen"
    seen.mkdir()
    (tmp_path / "test_shared.py").write_text(
        "import os, pathlib, sys, urllib.request\n"
        "import pytest\n\n"
        "@pytest.mark.parametrize('n', range(8))\n"
        "def test_each_worker_talks_to_the_shared_pod(pyodo_component, n):\n"
        "    body = urllib.request.urlopen(pyodo_component.endpoint(), timeout=10).read()\n"
        "    assert b'Hello from pyodo' in body\n"
        f"    out = pathlib.Path({str(seen)!r}) / os.environ['PYTEST_XDIST_WORKER']\n"
        "    client = 'kubernetes' in sys.modules\n"
        "    out.write_text(f'{pyodo_component.namespace} {pyodo_component.pod} {client}')\n"
    )
    proc = run_pytest(
        *session_args(cluster_info, tmp_path),
        "-n",
        "4",
        "--dist",
        "load",
        f"--junitxml={tmp_path / 'junit.xml'}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0
    assert "8 passed" in proc.stdout
    run_id = run_id_of(proc.stdout)
    served = {path.read_text() for path in seen.iterdir()}
    assert len(list(seen.iterdir())) == 4  # four workers ran tests...
    assert len(served) == 1  # ...against one namespace and one pod
    (where,) = served
    assert where.startswith(f"pyodo-{run_id}-shared ")
    # The controller deployed it while the workers started; each worker attached, verified and
    # forwarded to it without importing the Kubernetes client.
    assert where.endswith(" False")
    assert proc.stdout.count("[controller] deployed nodejs-example in") == 1
    assert proc.stdout.count("attached to nodejs-example in") == 4
    assert f"[controller] deleted namespace/pyodo-{run_id}-shared" in proc.stdout
    junit = (tmp_path / "junit.xml").read_text()
    assert f'name="pyodo.nodejs-example.pod" value="{where.split()[1]}"' in junit
    assert 'name="pyodo.nodejs-example.image"' in junit
    assert leftovers(admin, run_id) == []


SEEN = """
import os, pathlib, urllib.request


def seen(component, test):
    body = urllib.request.urlopen(component.endpoint(), timeout=10).read()
    assert b"Hello from pyodo" in body
    out = pathlib.Path({seen!r}) / f"{{os.environ['PYTEST_XDIST_WORKER']}}-{{test}}"
    out.write_text(f"{{component.namespace}} {{component.pod}}")
"""


def served(seen: Path) -> tuple[set[str], set[str]]:
    """``(workers, {"<namespace> <pod>"})`` the tests wrote into ``seen``."""
    files = list(seen.iterdir())
    return {p.name.split("-")[0] for p in files}, {p.read_text() for p in files}


@pytest.mark.parametrize("dist", ["loadfile", "loadscope"])
def test_loadfile_and_loadscope_workers_share_one_deployment(
    cluster_info: ClusterInfo, admin: Kube, tmp_path: Path, dist: str
) -> None:
    seen = tmp_path / "seen"
    seen.mkdir()
    (tmp_path / "seen_helper.py").write_text(SEEN.format(seen=str(seen)))
    for n in range(4):  # loadfile: a file per worker; loadscope: a class per worker
        (tmp_path / f"test_scope_{n}.py").write_text(
            "from seen_helper import seen\n\n"
            f"class TestScope{n}:\n"
            "    def test_one(self, pyodo_component):\n"
            f"        seen(pyodo_component, 'f{n}a')\n\n"
            "    def test_two(self, pyodo_component):\n"
            f"        seen(pyodo_component, 'f{n}b')\n"
        )
    args = session_args(cluster_info, tmp_path)
    proc = run_pytest(*args, "-n", "4", "--dist", dist, cwd=tmp_path)
    assert proc.returncode == 0
    assert "8 passed" in proc.stdout
    run_id = run_id_of(proc.stdout)
    workers, pods = served(seen)
    assert len(workers) >= 2  # the scopes went to several workers...
    assert len(pods) == 1  # ...and every one talked to the same pod
    assert next(iter(pods)).startswith(f"pyodo-{run_id}-shared ")
    assert proc.stdout.count("[controller] deployed nodejs-example in") == 1
    assert proc.stdout.count("attached to nodejs-example in") == len(workers)
    assert f"[controller] deleted namespace/pyodo-{run_id}-shared" in proc.stdout
    assert leftovers(admin, run_id) == []


def test_the_deploying_worker_crashing_leaves_the_shared_deployment_to_the_others(
    cluster_info: ClusterInfo, admin: Kube, tmp_path: Path
) -> None:
    seen = tmp_path / "seen"
    seen.mkdir()
    crashed = tmp_path / "crashed"
    (tmp_path / "seen_helper.py").write_text(SEEN.format(seen=str(seen)))
    (tmp_path / "test_crash_shared.py").write_text(
        "import os, pathlib\n"
        "import pytest\n"
        "from seen_helper import seen\n\n"
        # A marker, not --pyodo-component: a worker deploys it (not the controller).
        f"@pytest.mark.pyodo_component({str(NODEJS)!r})\n"
        "@pytest.mark.parametrize('n', range(6))\n"
        "def test_uses_the_shared_pod(pyodo_component, n):\n"
        f"    flag = pathlib.Path({str(crashed)!r})\n"
        "    if not pyodo_component.attached and not flag.exists():\n"
        "        flag.write_text(os.environ['PYTEST_XDIST_WORKER'])\n"
        "        os._exit(3)  # the worker that deployed it dies, with no teardown\n"
        "    seen(pyodo_component, n)\n"
    )
    args = [str(tmp_path), *kubeconfig_args(cluster_info)]
    proc = run_pytest(*args, "-n", "2", "--dist", "load", cwd=tmp_path)
    assert proc.returncode == 1
    assert "1 failed, 5 passed" in proc.stdout
    dead = crashed.read_text()
    assert re.search(rf"worker '?{dead}'? crashed", proc.stdout)
    run_id = run_id_of(proc.stdout)
    workers, pods = served(seen)
    assert dead not in workers
    assert len(pods) == 1  # the survivor and the replacement worker attached to it
    assert next(iter(pods)).startswith(f"pyodo-{run_id}-shared ")
    assert "deployed nodejs-example in" not in proc.stdout  # its report died with it
    assert f"[controller] deleted namespace/pyodo-{run_id}-shared" in proc.stdout
    assert leftovers(admin, run_id) == []


def test_local_cluster_option_boots_or_reuses_the_local_cluster(
    cluster_info: ClusterInfo, admin: Kube
) -> None:
    if cluster_info.provider != "local":
        pytest.skip("the suite runs against another provider")
    proc = run_pytest(str(DEMO), f"--pyodo-component={NODEJS}", "--pyodo-cluster=local")
    assert proc.returncode == 0
    assert "pyodo: cluster local [--pyodo-cluster], context pyodo-local" in proc.stdout
    assert leftovers(admin, run_id_of(proc.stdout)) == []


@pytest.mark.kind
def test_kind_cluster_option_reuses_the_kind_cluster(
    cluster_info: ClusterInfo, admin: Kube
) -> None:
    if cluster_info.provider != "kind":
        pytest.skip("runs in the kind pass of the suite")
    proc = run_pytest(
        str(DEMO),
        f"--pyodo-component={NODEJS}",
        "--pyodo-cluster=kind",
        f"--pyodo-kind-image={os.environ.get('PYODO_KIND_IMAGE', 'pyodo')}",
    )
    assert proc.returncode == 0
    assert "pyodo: cluster kind [--pyodo-cluster], context kind-pyodo" in proc.stdout
    assert leftovers(admin, run_id_of(proc.stdout)) == []


def test_failing_test_report_shows_the_pods_logs(
    cluster_info: ClusterInfo, admin: Kube, tmp_path: Path
) -> None:
    (tmp_path / "test_fails.py").write_text(
        "import urllib.request\n\n"
        "def test_expects_another_greeting(pyodo_endpoint):\n"
        "    body = urllib.request.urlopen(pyodo_endpoint, timeout=10).read().decode()\n"
        "    assert body.startswith('Goodbye')\n"
    )
    proc = run_pytest(*session_args(cluster_info, tmp_path), cwd=tmp_path)
    assert proc.returncode == 1
    assert "1 failed" in proc.stdout
    section = proc.stdout.split("pyodo: component nodejs-example in namespace pyodo-", 1)[1]
    assert "runtime: running, restarts 0" in section
    assert "log tail of runtime:" in section
    assert "\nlistening on 3000\n" in section  # the app's own log line, on a line of its own
    assert leftovers(admin, run_id_of(proc.stdout)) == []


def test_component_handle_syncs_edits_restarts_and_execs(
    cluster_info: ClusterInfo, admin: Kube, tmp_path: Path
) -> None:
    app_copy(tmp_path)
    (tmp_path / "test_handle.py").write_text(
        """
import urllib.request
from pathlib import Path


def get(url):
    return urllib.request.urlopen(url, timeout=10).read().decode()


def test_edit_sync_and_see_the_change(pyodo_component):
    assert "Hello from pyodo" in get(pyodo_component.endpoint())
    greeting = Path(__file__).parent / "app" / "greeting.js"
    greeting.write_text('exports.greeting = () => "Edited by a test";\\n')
    result = pyodo_component.sync()
    assert result.built
    assert get(pyodo_component.endpoint()).strip() == "Edited by a test"


def test_exec_logs_restart_and_service_url(pyodo_component, pyodo_cluster):
    done = pyodo_component.exec(["cat", f"{pyodo_component.source_dir}/greeting.js"], check=True)
    assert b"Edited by a test" in done.stdout
    assert pyodo_component.service_url() == (
        f"http://nodejs-example.{pyodo_cluster.namespace}.svc:3000"
    )
    pyodo_component.restart()
    assert "Edited by a test" in get(pyodo_component.endpoint())
    assert "listening on 3000" in pyodo_component.logs()
"""
    )
    proc = run_pytest(*session_args(cluster_info, tmp_path, "app"), cwd=tmp_path)
    assert proc.returncode == 0
    assert "2 passed" in proc.stdout
    assert leftovers(admin, run_id_of(proc.stdout)) == []


def test_restricted_user_falls_back_to_its_namespace_and_cleans_up_by_label(
    cluster_info: ClusterInfo, admin: Kube
) -> None:
    if cluster_info.restricted_kubeconfig is None or cluster_info.restricted_namespace is None:
        pytest.skip("this provider has no namespace-restricted user")
    proc = run_pytest(
        str(DEMO),
        f"--pyodo-component={NODEJS}",
        "--pyodo-cluster=kubeconfig",
        f"--pyodo-kubeconfig={cluster_info.restricted_kubeconfig}",
    )
    assert proc.returncode == 0
    assert "2 passed" in proc.stdout
    namespace = cluster_info.restricted_namespace
    assert f"in namespace/{namespace}" in proc.stdout
    assert leftovers(admin, run_id_of(proc.stdout), (namespace,)) == []


def app_copy(tmp_path: Path) -> Path:
    """A private copy of the nodejs example (its own .pyodo state)."""
    app = tmp_path / "app"
    shutil.copytree(NODEJS, app, ignore=shutil.ignore_patterns(".pyodo"))
    return app


def test_verify_catches_a_file_changed_inside_the_container(
    cluster_info: ClusterInfo, admin: Kube, tmp_path: Path
) -> None:
    (tmp_path / "test_tamper.py").write_text(
        """
import pytest
from pyodo_tasks.core.verify import SyncMismatch


def test_a_change_behind_pyodos_back_is_caught(pyodo_component):
    assert pyodo_component.verify().ok  # the fixture verified it too, before yielding
    src = pyodo_component.source_dir
    pyodo_component.exec(["sh", "-c", f"echo '// edited' >> {src}/greeting.js"], check=True)
    pyodo_component.exec(["rm", f"{src}/server.js"], check=True)
    with pytest.raises(SyncMismatch) as caught:
        pyodo_component.verify()
    message = str(caught.value)
    assert "greeting.js (differs)" in message
    assert "server.js (missing in the container)" in message
    assert [m.path for m in caught.value.result.mismatches] == ["greeting.js", "server.js"]
"""
    )
    proc = run_pytest(*session_args(cluster_info, tmp_path), cwd=tmp_path)
    assert proc.returncode == 0
    assert "1 passed" in proc.stdout
    assert leftovers(admin, run_id_of(proc.stdout)) == []


def test_named_namespace_is_created_and_deleted_or_kept_and_cleaned_by_label(
    cluster_info: ClusterInfo, admin: Kube
) -> None:
    name = f"pyodo-test-ns-{os.getpid()}"
    args = session_args(cluster_info)
    proc = run_pytest(*args, f"--pyodo-namespace={name}")
    assert proc.returncode == 0 and "2 passed" in proc.stdout
    assert f"into namespace/{name}" not in proc.stdout
    assert admin.namespace_phase(name) in (None, "Terminating")  # it created it: deleted
    admin.ensure_namespace(name, {"purpose": "pyodo-test"})
    try:
        proc = run_pytest(*args, f"--pyodo-namespace={name}", "-n", "2")
        assert proc.returncode == 0 and "2 passed" in proc.stdout
        run_id = run_id_of(proc.stdout)
        assert admin.namespace_phase(name) == "Active"  # existing: kept...
        assert leftovers(admin, run_id, (name,)) == []  # ...without the run's objects
    finally:
        admin.delete_namespace(name)


def test_reuse_attaches_to_a_pushed_component_and_its_verify_catches_tampering(
    cluster_info: ClusterInfo, admin: Kube, tmp_path: Path
) -> None:
    from pyodo_tasks.core.component import Component

    name = f"pyodo-test-reuse-{os.getpid()}"
    app = app_copy(tmp_path)
    admin.ensure_namespace(name, {"purpose": "pyodo-test"})
    target = ResolvedTarget(str(cluster_info.kubeconfig), cluster_info.context, name, True)
    try:
        with Component(app, target) as component:  # what `doit push` does
            pod = component.push().pod
        args = session_args(cluster_info, DEMO, app)
        proc = run_pytest(*args, "--pyodo-reuse", f"--pyodo-namespace={name}")
        assert proc.returncode == 0 and "2 passed" in proc.stdout
        assert f"pod/{pod}" in proc.stdout  # the pushed pod, nothing redeployed
        assert "reused components left running" in proc.stdout
        with Component(app, target) as component:
            assert component.pod_name() == pod
            component.exec(["sh", "-c", "echo '// edited' >> /projects/greeting.js"], check=True)
        proc = run_pytest(*args, "--pyodo-reuse", f"--pyodo-namespace={name}")
        assert proc.returncode == 1
        assert "greeting.js (differs)" in proc.stdout  # the fixture verified before yielding
    finally:
        admin.delete_namespace(name)


def test_a_crashed_workers_own_namespace_is_deleted_by_the_controller(
    cluster_info: ClusterInfo, admin: Kube, tmp_path: Path
) -> None:
    (tmp_path / "test_crash.py").write_text(
        "import os\nimport pytest\n\n"
        f"@pytest.mark.pyodo_component({str(NODEJS)!r}, shared=False)\n"
        "def test_worker_dies_with_its_own_copy(pyodo_component):\n"
        "    os._exit(3)\n"
    )
    proc = run_pytest(str(tmp_path), *kubeconfig_args(cluster_info), "-n", "2", cwd=tmp_path)
    assert proc.returncode == 1
    assert "crashed" in proc.stdout
    run_id = run_id_of(proc.stdout)
    assert re.search(rf"\[controller\] deleted namespace/pyodo-{run_id}-gw\d", proc.stdout)
    assert leftovers(admin, run_id) == []


def test_the_example_ci_workflow_runs_as_written(cluster_info: ClusterInfo, admin: Kube) -> None:
    if cluster_info.provider != "local":
        pytest.skip("the workflow is run here against the local cluster")
    from pyodo_tasks.paths import cache_root

    env = clean_env("PYTEST_XDIST_WORKER")
    reports = ROOT / "reports"
    shutil.rmtree(reports, ignore_errors=True)
    proc = commands.run(
        [
            sys.executable,
            str(ROOT / "examples" / "ci" / "run_workflow.py"),
            str(ROOT / "examples" / "ci" / "pyodo-tests.yml"),
            "--env",
            "PYODO_CLUSTER_PROVIDER=local",
            "--env",
            f"PYODO_CACHE_DIR={cache_root()}",
        ],
        ROOT,
        {**env, "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}"},
        timeout=SESSION_TIMEOUT,
    )
    print(proc.stdout[-6000:], proc.stderr[-3000:], sep="\n")
    try:
        assert proc.returncode == 0
        assert "[component-tests] skip Load the builder image into kind" in proc.stdout
        assert "[component-tests] skip Delete the cluster" in proc.stdout
        assert "2 passed" in proc.stdout
        junit = (reports / "component-tests.xml").read_text()
        assert 'name="pyodo.nodejs-example.pod"' in junit
        assert leftovers(admin, run_id_of(proc.stdout)) == []
    finally:
        shutil.rmtree(reports, ignore_errors=True)
