"""``doit dev > dev.log &`` inside the component directory, started by a script, on the real
cluster: its own log is never synced (no sync-build-restart cycle), and SIGINT — which a
background job of a non-interactive shell starts ignoring — and SIGTERM both stop it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyodo_tasks.core.gc import run_labels
from pyodo_tasks.core.kube import Kube, Target
from pyodo_tasks.dev.state import Spec, State, Status, spec_name, status_name

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).parents[2]
NAME = "nodejs-example"
START_TIMEOUT = 300.0


class Background:
    """``doit dev`` started the way a script does it: ``doit dev > dev.log 2>&1 &``."""

    def __init__(self, path: Path, namespace: str, env: dict[str, str]) -> None:
        self.log = path / "dev.log"
        shell = 'cd "$1" && "$0" -m doit dev --namespace "$2" > dev.log 2>&1 & echo $!'
        self.pid = int(
            subprocess.run(
                ["sh", "-c", shell, sys.executable, str(path), namespace],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
                env=env,
            ).stdout
        )

    def alive(self) -> bool:
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except FileNotFoundError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"

    def wait_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                return True
            time.sleep(0.1)
        return False

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.wait_gone(10)


@pytest.fixture(scope="module")
def setup(cluster_info, tmp_path_factory) -> Iterator[tuple[Path, Kube, dict[str, str]]]:
    path = tmp_path_factory.mktemp("own-output") / "nodejs"
    shutil.copytree(ROOT / "examples" / "nodejs", path, ignore=shutil.ignore_patterns(".pyodo"))
    namespace = f"pyodo-test-devlog-{uuid.uuid4().hex[:6]}"
    kube = Kube(Target(kubeconfig=str(cluster_info.kubeconfig), namespace=namespace))
    kube.ensure_namespace(namespace, run_labels(f"dev-{namespace}", 3600))
    env = dict(os.environ, KUBECONFIG=str(cluster_info.kubeconfig), PYTHONPATH=str(ROOT))
    for var in ("PYODO_NAMESPACE", "PYODO_CONTEXT", "PYODO_KUBECONFIG"):
        env.pop(var, None)
    try:
        yield path, kube, env
    finally:
        kube.delete_namespace(namespace)
        kube.close()


def status(kube: Kube) -> Status | None:
    obj = kube.get("ConfigMap", status_name(NAME))
    return Status.from_data(obj["data"]) if obj and obj.get("data") else None


def spec_generation(kube: Kube) -> int:
    obj = kube.get("ConfigMap", spec_name(NAME))
    return Spec.from_data(obj["data"]).generation if obj and obj.get("data") else 0


def wait_running(kube: Kube, run: Background, timeout: float) -> Status:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not run.alive():
            pytest.fail(f"doit dev exited:\n{run.text()[-3000:]}")
        last = status(kube)
        if last is not None and last.state is State.RUN_COMMAND_RUNNING and last.ports:
            return last
        time.sleep(0.3)
    pytest.fail(f"not running after {timeout:g}s; last {last}\n{run.text()[-3000:]}")


def test_its_own_log_in_the_component_is_never_synced_and_sigint_stops_it(setup) -> None:
    path, kube, env = setup
    run = Background(path, kube.namespace, env)
    try:
        wait_running(kube, run, START_TIMEOUT)
        generation, settled = spec_generation(kube), status(kube)
        time.sleep(8)  # the bug restarted the cycle every 1.3 s: several rounds
        assert spec_generation(kube) == generation, run.text()[-3000:]
        after = status(kube)
        assert after is not None and settled is not None
        assert after.observed_generation == settled.observed_generation
        assert "not syncing its own output, dev.log" in run.text()
        os.kill(run.pid, signal.SIGINT)
        assert run.wait_gone(60), f"SIGINT did not stop doit dev:\n{run.text()[-3000:]}"
        assert "[dev] interrupted, stopping" in run.text()
        assert "Traceback" not in run.text()
    finally:
        run.kill()


def test_sigterm_stops_it_too(setup) -> None:
    path, kube, env = setup
    run = Background(path, kube.namespace, env)
    try:
        wait_running(kube, run, START_TIMEOUT)
        os.kill(run.pid, signal.SIGTERM)
        assert run.wait_gone(60), f"SIGTERM did not stop doit dev:\n{run.text()[-3000:]}"
        assert "[dev] interrupted, stopping" in run.text()
    finally:
        run.kill()
