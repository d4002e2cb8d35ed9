"""``doit dev`` on the real cluster: the loop a developer leaves running while editing.

One ``python -m pyodo_tasks.dev`` subprocess per module, on a scratch copy of the Node.js example
in a namespace of its own; the tests run in definition order against it, reading only what a
user could read: the status ConfigMap and the forwarded port it names.
"""

from __future__ import annotations

import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pyodo_tasks.core.component import Component
from pyodo_tasks.core.kube import Kube
from pyodo_tasks.dev.state import State, Status, status_name
from tests.cluster.sessions import dev_namespace

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).parents[2]
ANSWER = "Hello from pyodo (Node.js)"
NAME = "nodejs-example"
#: First start pulls nothing but still creates a PVC and a pod: generous, still bounded.
START_TIMEOUT = 300.0
EDIT_TIMEOUT = 30.0


@dataclass
class DevRun:
    """The running loop and what the tests need to drive and observe it."""

    path: Path
    namespace: str
    kube: Kube
    proc: subprocess.Popen[bytes]
    log: Path
    latencies_ms: list[float] = field(default_factory=list)

    def status(self) -> Status | None:
        obj = self.kube.get("ConfigMap", status_name(NAME))
        return Status.from_data(obj["data"]) if obj and obj.get("data") else None

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_status(self, what: str, ok: Callable[[Status], bool], timeout: float) -> Status:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"doit dev exited {self.proc.returncode}:\n{self.log_tail()}")
            last = self.status()
            if last is not None and ok(last):
                return last
            time.sleep(0.2)
        pytest.fail(
            f"timed out after {timeout:g}s waiting for {what}; last status {last}\n"
            f"{self.log_tail()}"
        )

    def url(self) -> str:
        status = self.status()
        assert status is not None and status.ports, status
        return status.ports[0].url

    def answer(self) -> str:
        try:
            with urllib.request.urlopen(self.url(), timeout=5) as response:
                return response.read().decode().strip()
        except OSError:
            return ""

    def wait_answer(self, expected: str, timeout: float) -> float:
        """Seconds until the app answers ``expected`` (polled every 20 ms, bounded)."""
        started = time.monotonic()
        deadline = started + timeout
        seen = ""
        while time.monotonic() < deadline:
            seen = self.answer()
            if seen == expected:
                return time.monotonic() - started
            time.sleep(0.02)
        pytest.fail(
            f"app answered {seen!r}, not {expected!r}, after {timeout:g}s\n{self.log_tail()}"
        )

    def component(self) -> Component:
        return Component(self.path, kube=self.kube, environ={})


def stop_dev(proc: subprocess.Popen[bytes]) -> None:
    """Stop a ``doit dev`` as Ctrl-C would (SIGTERM), killing it if it has not gone in 30 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def dev(cluster_info, tmp_path_factory) -> Iterator[DevRun]:
    path = tmp_path_factory.mktemp("dev") / "nodejs"
    shutil.copytree(ROOT / "examples" / "nodejs", path, ignore=shutil.ignore_patterns(".pyodo"))
    namespace, kube, env = dev_namespace(cluster_info, "pyodo-test-dev")
    log = path.parent / "dev.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pyodo_tasks.dev",
                str(path),
                "--namespace",
                namespace,
                "--seconds",
                "1800",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    run = DevRun(path, namespace, kube, proc, log)
    try:
        yield run
    finally:
        stop_dev(proc)
        if run.latencies_ms:
            print(f"\nsave-to-new-answer latency (ms): {run.latencies_ms}")
        kube.delete_namespace(namespace)
        kube.close()


def running(status: Status) -> bool:
    return status.state is State.RUN_COMMAND_RUNNING and bool(status.ports)


def test_dev_serves_the_app_on_the_port_named_in_the_status(dev: DevRun) -> None:
    status = dev.wait_status("RunCommandRunning", running, START_TIMEOUT)
    assert status.ports[0].container_port == 3000
    assert status.ports[0].local_address == "127.0.0.1"
    dev.wait_answer(ANSWER, EDIT_TIMEOUT)


def test_saved_edits_are_served_within_a_bounded_time(
    dev: DevRun, record_property: pytest.RecordProperty
) -> None:
    source = dev.path / "greeting.js"
    original = source.read_text()
    for i in range(5):
        text = f"pyodo (Node.js), edit {i}"
        source.write_text(original.replace("pyodo (Node.js)", text))
        seconds = dev.wait_answer(f"Hello from {text}", EDIT_TIMEOUT)
        dev.latencies_ms.append(round(seconds * 1000))
        time.sleep(0.5)  # the next save is a separate batch
    status = dev.wait_status("the last edit reconciled", running, EDIT_TIMEOUT)
    assert "1 modified" in status.last_sync
    record_property("save_to_answer_ms", dev.latencies_ms)
    record_property("save_to_answer_median_ms", statistics.median(dev.latencies_ms))


def test_an_ignored_file_changes_nothing(dev: DevRun) -> None:
    before = dev.wait_status("running", running, EDIT_TIMEOUT)
    ignore = dev.path / ".gitignore"
    ignore.write_text(ignore.read_text() + "*.log\n")
    dev.wait_status(
        "the .gitignore synced",
        lambda s: s.observed_generation > before.observed_generation and running(s),
        EDIT_TIMEOUT,
    )
    settled = dev.status()
    (dev.path / "debug.log").write_text("noise\n")
    time.sleep(2)
    after = dev.status()
    assert after is not None and settled is not None
    assert after.observed_generation == settled.observed_generation
    assert after.last_sync == settled.last_sync


def test_broken_devfile_is_reported_with_its_field_while_the_app_keeps_answering(
    dev: DevRun,
) -> None:
    expected = dev.answer()
    assert expected.startswith("Hello from")
    devfile = dev.path / "devfile.yaml"
    good = devfile.read_text()
    devfile.write_text(good.replace("targetPort: 3000", "targetPort: three-thousand"))
    try:
        status = dev.wait_status("status Error", lambda s: s.state is State.ERROR, EDIT_TIMEOUT)
        assert "targetPort" in status.message, status.message
        assert dev.answer() == expected
        assert status.ports, "the last good forwards stay"
    finally:
        devfile.write_text(good)
    dev.wait_status("back to RunCommandRunning", running, EDIT_TIMEOUT)
    assert dev.answer() == expected


def test_deleted_pod_is_replaced_and_resynced_by_the_loop(dev: DevRun) -> None:
    before = dev.wait_status("running", running, EDIT_TIMEOUT)
    expected = dev.answer()
    port = before.ports[0].local_port
    dev.kube.delete_pod(before.pod, dev.namespace)
    status = dev.wait_status(
        "a new pod synced and running",
        lambda s: running(s) and s.pod != before.pod,
        START_TIMEOUT,
    )
    assert "(full index)" in status.last_sync, status.last_sync
    assert status.ports[0].local_port == port, "local ports are stable across pod restarts"
    dev.wait_answer(expected, EDIT_TIMEOUT)


def test_sigterm_stops_the_loop_and_keeps_the_component(dev: DevRun) -> None:
    # Running first: under xdist this test can be a worker's first, and a SIGTERM before
    # doit dev installed its handler ends the process as any signal does (-15).
    dev.wait_status("running", running, START_TIMEOUT)
    dev.proc.send_signal(signal.SIGTERM)
    assert dev.proc.wait(30) == 0, dev.log_tail()
    status = dev.status()
    assert status is not None and status.ports == ()
    assert "not running" in status.message
    assert dev.kube.get("Deployment", NAME) is not None, "kept: no --cleanup"
