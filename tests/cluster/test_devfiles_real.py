"""Real devfiles' features on the real cluster: a child of a registry stack, served from a
loopback registry, with an https-declared endpoint, a sidecar and a Kubernetes component.

The component is pyodo's own fixture (``fixtures/components/registry-child``), copied to a
scratch directory with the registry's loopback URL written in; it runs in a namespace of its
own, deleted at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sessions import kubeconfig_args, run_pytest
from test_dev_real import stop_dev  # tests/cluster is on sys.path

from pyodo_tasks.cluster import ClusterInfo
from pyodo_tasks.core.component import Component
from pyodo_tasks.core.gc import run_labels
from pyodo_tasks.core.kube import Kube, Target
from pyodo_tasks.dev.state import State, Status, status_name

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).parents[2]
FIXTURE = ROOT / "fixtures" / "components" / "registry-child"
GREETING = "Hello from a registry child"


@dataclass
class Child:
    path: Path
    namespace: str
    kubeconfig: Path

    def component(self) -> Component:
        target = Target(kubeconfig=str(self.kubeconfig), namespace=self.namespace)
        return Component(self.path, target, environ={})


def scratch_child(tmp: Path, registry_url: str) -> Path:
    path = tmp / "registry-child"
    shutil.copytree(FIXTURE, path)
    devfile = path / "devfile.yaml"
    devfile.write_text(devfile.read_text().replace("REGISTRY_URL", registry_url))
    return path


@pytest.fixture(scope="module")
def child(
    cluster_info: ClusterInfo, loopback_registry: tuple[str, list[str]], tmp_path_factory
) -> Iterator[Child]:
    url, _ = loopback_registry
    path = scratch_child(tmp_path_factory.mktemp("child"), url)
    namespace = f"pyodo-test-child-{uuid.uuid4().hex[:6]}"
    kube = Kube(Target(kubeconfig=str(cluster_info.kubeconfig), namespace=namespace))
    kube.ensure_namespace(namespace, run_labels(f"devfiles-{namespace}", 3600))
    child = Child(path, namespace, cluster_info.kubeconfig)
    try:
        with child.component() as component:
            component.push(timeout=300)
        yield child
    finally:
        kube.delete_namespace(namespace)
        kube.close()


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode().strip()


def test_child_of_a_loopback_registry_stack_pushes_and_answers(child: Child) -> None:
    with child.component() as component:
        url = component.endpoint(timeout=120)
        assert get(url) == GREETING, "the parent's env, with the child's variable override"


def test_https_declared_endpoint_of_a_plain_app_is_handed_out_as_http(child: Child) -> None:
    with child.component() as component:
        assert component.endpoint_spec().protocol == "https"
        assert component.endpoint(timeout=120).startswith("http://127.0.0.1:")


def test_sidecar_sees_the_synced_sources(child: Child) -> None:
    with child.component() as component:
        seen = component.exec(["cat", "/checks/server.js"], container="checker", check=True)
        assert b"createServer" in seen.stdout
        env = component.exec(["sh", "-c", "echo $PROJECT_SOURCE"], container="checker")
        assert env.stdout.strip() == b"/checks"


def test_kubernetes_component_is_applied_and_deleted_with_the_component(child: Child) -> None:
    with child.component() as component:
        settings = component.kube.get("ConfigMap", "registry-child-settings")
        assert settings is not None
        assert settings["data"] == {"greeting": GREETING}
        labels = settings["metadata"]["labels"]
        assert labels["pyodo.dev/component"] == "registry-child"
        assert labels["app.kubernetes.io/managed-by"] == "pyodo"
        gone = component.delete(timeout=120)
        assert "ConfigMap/registry-child-settings" in gone
        assert component.kube.get("ConfigMap", "registry-child-settings") is None
    with child.component() as component:  # back as it was for the module's other tests
        component.push(timeout=300)


def test_pyodo_endpoint_of_a_registry_child_answers(
    cluster_info: ClusterInfo, loopback_registry: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, _ = loopback_registry
    path = scratch_child(tmp_path, url)
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_child.py").write_text(
        "import urllib.request\n\n"
        "def test_endpoint(pyodo_endpoint):\n"
        "    assert pyodo_endpoint.startswith('http://')\n"
        "    with urllib.request.urlopen(pyodo_endpoint, timeout=10) as response:\n"
        f"        assert response.read().decode().strip() == {GREETING!r}\n"
    )
    proc = run_pytest(str(tests), f"--pyodo-component={path}", *kubeconfig_args(cluster_info))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "1 passed" in proc.stdout


def _dev_status(kube: Kube) -> Status | None:
    obj = kube.get("ConfigMap", status_name("registry-child"))
    return Status.from_data(obj["data"]) if obj and obj.get("data") else None


def test_doit_dev_shows_the_https_declared_endpoint_as_the_http_it_serves(
    cluster_info: ClusterInfo, loopback_registry: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, _ = loopback_registry
    path = scratch_child(tmp_path, url)
    namespace = f"pyodo-test-childdev-{uuid.uuid4().hex[:6]}"
    kube = Kube(Target(kubeconfig=str(cluster_info.kubeconfig), namespace=namespace))
    kube.ensure_namespace(namespace, run_labels(f"devfiles-{namespace}", 3600))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYODO_")}
    env["KUBECONFIG"] = str(cluster_info.kubeconfig)
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pyodo_tasks.dev", str(path), "-n", namespace,
             "--seconds", "600"],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            status = _dev_status(kube)
            running = status is not None and status.state is State.RUN_COMMAND_RUNNING
            if running and status.ports and status.ports[0].scheme:
                break
            time.sleep(0.5)
        assert status is not None and status.ports, log.read_text(errors="replace")[-3000:]
        port = status.ports[0]
        assert (port.protocol, port.scheme) == ("https", "http"), log.read_text()[-3000:]
        assert get(port.url) == GREETING
        shown = log.read_text(errors="replace")
        assert f"Forwarding http: {port.url}" in shown, shown[-3000:]
        assert "declared https but the app speaks plain http" in shown
    finally:
        stop_dev(proc)
        kube.delete_namespace(namespace)
        kube.close()
