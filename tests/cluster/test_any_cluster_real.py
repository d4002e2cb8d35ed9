"""pyodo as a new user meets it: a wheel in a fresh virtualenv, a kind cluster pyodo never touched.

The cluster is made with the plain kind CLI (``kind create cluster`` with the node image built on
this machine, as a user would with kind's own) and gets nothing but the app's image (``kind
load``): no init image, no pyodo provider. The wheel comes from ``pip wheel .``, installed into a
virtualenv whose processes have no path to this checkout, its cache and Go out of reach, and the
component is a copy outside the repository. Then what a user does: ``doit push`` (answers), an
edit under ``doit dev`` (served), ``pytest -n 2 --pyodo-component`` (passes), ``doit delete``
(nothing left). Runs in ``./run test``'s kind pass (``PYODO_KIND_IMAGE=pyodo``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyodo_tasks.core.kube import Kube, Target
from pyodo_tasks.dev.state import Status, status_name
from pyodo_tasks.testbed.images import ensure_images
from pyodo_tasks.testbed.kind import (
    IMAGE_ENV,
    LOCAL_NODE_IMAGE,
    POD_NETWORK_CONFIG,
    KindProvider,
    ensure_kind,
)
from tests.cluster.test_dev_real import stop_dev

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        os.environ.get(IMAGE_ENV) != LOCAL_NODE_IMAGE,
        reason=f"runs in the kind pass ({IMAGE_ENV}={LOCAL_NODE_IMAGE}; ./run test sets it)",
    ),
]

ROOT = Path(__file__).parents[2]
CLUSTER = "pyodo-plain"
APP_IMAGE = "builder-nodejs"
ANSWER = "Hello from pyodo (Node.js)"
EDITED = "Hello from pyodo (Node.js), edited"
NAME = "nodejs-example"
MANAGED = "app.kubernetes.io/managed-by=pyodo"


@dataclass
class User:
    """A virtualenv with the wheel, a kubeconfig for the plain cluster, a component dir."""

    venv: Path
    kubeconfig: Path
    app: Path
    home: Path

    def env(self) -> dict[str, str]:
        keep = ("LANG", "LC_ALL", "TERM", "TMPDIR")
        env = {k: v for k, v in os.environ.items() if k in keep}
        # No PYTHONPATH (the checkout), no Go on PATH, a cache of its own: what a user has.
        env.update(
            PATH=f"{self.venv / 'bin'}:/usr/bin:/bin",
            HOME=str(self.home),
            KUBECONFIG=str(self.kubeconfig),
            PYODO_CACHE_DIR=str(self.home / "cache"),
        )
        return env

    def run(self, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.venv / "bin" / argv[0]), *argv[1:]],
            cwd=self.app,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            pytest.fail(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def answer(self) -> str:
        """What the component's endpoint says, through the installed pyodo's own forward."""
        script = (
            "import urllib.request\nfrom pyodo_tasks import Component\n"
            "with Component('.') as c:\n"
            "    print(urllib.request.urlopen(c.endpoint(), timeout=10).read().decode())\n"
        )
        return self.run("python", "-c", script).stdout.strip()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        cwd=out,
        check=True,
        timeout=900,
    )
    (found,) = out.glob("pyodo-*.whl")
    return found


@pytest.fixture(scope="module")
def plain_kind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A kind cluster made with kind's CLI; only the app image loaded. Yields its kubeconfig."""
    provider = KindProvider(cluster_name=CLUSTER, node_image=LOCAL_NODE_IMAGE)
    env = provider.engine().env
    node_image = provider._resolved_node_image()  # the node image built here, in Docker
    assert node_image is not None
    work = tmp_path_factory.mktemp("plain-kind")
    kubeconfig, config = work / "kubeconfig", work / "kind.yaml"
    config.write_text(POD_NETWORK_CONFIG)  # kind's own config: this node image brings a CNI
    kind = str(ensure_kind())

    def kind_cli(*args: str, timeout: float = 600) -> None:
        subprocess.run([kind, *args], env=env, check=True, timeout=timeout)

    subprocess.run([kind, "delete", "cluster", "--name", CLUSTER], env=env, timeout=300)
    try:
        kind_cli(
            "create", "cluster", "--name", CLUSTER, "--image", node_image, "--config",
            str(config), "--kubeconfig", str(kubeconfig), "--wait", "240s",
        )  # fmt: skip
        archive = ensure_images([APP_IMAGE])[APP_IMAGE].path
        kind_cli("load", "image-archive", str(archive), "--name", CLUSTER)
        yield kubeconfig
    finally:
        subprocess.run([kind, "delete", "cluster", "--name", CLUSTER], env=env, timeout=300)


@pytest.fixture(scope="module")
def user(wheel: Path, plain_kind: Path, tmp_path_factory: pytest.TempPathFactory) -> User:
    home = tmp_path_factory.mktemp("user-home")
    venv = home / "venv"
    app = home / "work" / "nodejs"
    shutil.copytree(ROOT / "examples" / "nodejs", app, ignore=shutil.ignore_patterns(".pyodo"))
    user = User(venv, plain_kind, app, home)
    # The user's environment, not this run's: with ./run's PYTHONPATH (the checkout and its
    # generated metadata) pip would take pyodo as installed already and skip the wheel.
    env = {**user.env(), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    env.update({k: v for k, v in os.environ.items() if k.startswith("PIP_")})
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300, env=env)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, str(wheel), "pytest", "pytest-xdist"], check=True, timeout=900, env=env)
    return user


def test_the_wheel_runs_from_its_virtualenv_with_its_agent_inside(user: User) -> None:
    where = user.run("python", "-c", "import pyodo_tasks; print(pyodo_tasks.__file__)").stdout
    assert where.startswith(str(user.venv)), where
    shipped = Path(where.strip()).parent / "runtime" / "bin"
    assert {p.parent.name for p in shipped.glob("*/supervisor")} == {"linux-amd64", "linux-arm64"}


def test_push_on_a_cluster_pyodo_never_loaded_anything_into(user: User) -> None:
    out = user.run("doit", "push").stdout
    assert "Putting pyodo's agent into pod/" in out, out
    assert user.answer() == ANSWER
    assert not (user.home / "cache" / "runtime").exists(), "the wheel's agent, not a Go build"


def test_an_edit_under_doit_dev_is_served(user: User) -> None:
    kube = Kube(Target(kubeconfig=str(user.kubeconfig), namespace="default"))
    log = user.home / "dev.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(user.venv / "bin" / "doit"), "dev"],
            cwd=user.app,
            env=user.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    source = user.app / "greeting.js"
    original = source.read_text()
    try:
        url = _dev_url(kube, proc, log)
        source.write_text(original.replace("pyodo (Node.js)", "pyodo (Node.js), edited"))
        assert _poll(url, EDITED, 60) == EDITED, log.read_text(errors="replace")[-2000:]
    finally:
        stop_dev(proc)
        source.write_text(original)
        kube.close()


def _dev_url(kube: Kube, proc: subprocess.Popen[bytes], log: Path, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
        obj = kube.get("ConfigMap", status_name(NAME))
        status = Status.from_data(obj["data"]) if obj and obj.get("data") else None
        if status is not None and status.ports and _poll(status.ports[0].url, ANSWER, 1):
            return status.ports[0].url
        time.sleep(0.5)
    pytest.fail(f"doit dev did not forward a serving port in {timeout:g}s:\n{log.read_text()}")


def _poll(url: str, expected: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                seen = response.read().decode().strip()
        except OSError:
            seen = ""
        if seen == expected:
            break
        time.sleep(0.2)
    return seen


def test_pytest_with_two_workers_passes_against_the_component(user: User) -> None:
    tests = user.home / "work" / "tests"
    tests.mkdir(exist_ok=True)
    (tests / "test_app.py").write_text(
        "import urllib.request\n\n"
        "def test_greets(pyodo_endpoint):\n"
        "    assert b'Hello from pyodo' in urllib.request.urlopen(pyodo_endpoint).read()\n\n"
        "def test_greets_again(pyodo_endpoint):\n"
        "    assert b'Node.js' in urllib.request.urlopen(pyodo_endpoint).read()\n"
    )
    proc = user.run(
        "pytest", "-n", "2", "-p", "no:cacheprovider", f"--pyodo-component={user.app}",
        str(tests), timeout=900,
    )  # fmt: skip
    assert "2 passed" in proc.stdout, proc.stdout


def test_delete_leaves_nothing_pyodo_made(user: User) -> None:
    user.run("doit", "delete")
    kube = Kube(Target(kubeconfig=str(user.kubeconfig), namespace="default"))
    try:
        deadline = time.monotonic() + 120
        left: list[str] = ["?"]
        while left and time.monotonic() < deadline:
            left = [f"{o['kind']}/{o['metadata']['name']}" for o in kube.list_labelled(MANAGED)]
            left += [p.metadata.name for p in kube.pods(MANAGED)]
            time.sleep(1)
        assert left == []
    finally:
        kube.close()
