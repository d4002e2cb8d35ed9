"""``doit dev --debug`` on the real cluster: a real debugger attaches to each example through
pyodo's forward, stops at a breakpoint on a request, and attaches again after an edit restarted
the app, through the same local port.

One ``python -m pyodo_tasks.dev --debug`` per example, on a scratch copy in a namespace of its
own; the clients are :mod:`tests.cluster.debugclients` (DAP for debugpy, the Node inspector's
websocket protocol, JDWP).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from pyodo_tasks.core.devfile import load_devfile
from pyodo_tasks.core.kube import Kube
from pyodo_tasks.dev.state import ForwardedPort, State, Status, status_name
from tests.cluster.debugclients import (
    BREAKPOINT,
    DapClient,
    DebugClientError,
    InspectorClient,
    JdwpClient,
    inspector_targets,
)
from tests.cluster.sessions import (
    NODEJS,
    dev_namespace,
    kubeconfig_args,
    leftovers,
    run_id_of,
    run_pytest,
)
from tests.cluster.test_dev_real import stop_dev

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).parents[2]
START_TIMEOUT = 300.0
#: An edit, a rebuild (javac for Java) and a restart under the debugger.
EDIT_TIMEOUT = 90.0
#: The greeting file of each example, and the text its answer starts with.
GREETINGS = {
    "python": ("greeting.py", "pyodo (Python)"),
    "nodejs": ("greeting.js", "pyodo (Node.js)"),
    "java": ("src/demo/Greeting.java", "pyodo (Java)"),
}


@dataclass
class DebugRun:
    """A ``doit dev --debug`` session and what the tests read of it: the status ConfigMap."""

    path: Path
    name: str
    kube: Kube
    proc: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_running(self, why: str, ok: Callable[[Status], bool] = lambda s: True) -> Status:
        """The status once RunCommandRunning with the http and debug ports forwarded."""
        deadline = time.monotonic() + START_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"doit dev exited {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            obj = self.kube.get("ConfigMap", status_name(self.name))
            last = Status.from_data(obj["data"]) if obj and obj.get("data") else None
            names = {p.name for p in last.ports} if last else set()
            serving = last is not None and last.state is State.RUN_COMMAND_RUNNING
            if serving and {"http", "debug"} <= names and ok(last):
                return last
            time.sleep(0.2)
        pytest.fail(f"timed out waiting for {why}; last status {last}\n{self.log_text()[-3000:]}")

    def wait_line(self, text: str, timeout: float = 30.0) -> None:
        """A ``[dev]`` line holding ``text`` (the attach line follows the status write)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.log_text().splitlines()
            if any(line.startswith("[dev] ") and text in line for line in lines):
                return
            time.sleep(0.2)
        pytest.fail(f"no [dev] line with {text!r} after {timeout:g}s:\n{self.log_text()}")

    def port(self, status: Status, name: str) -> ForwardedPort:
        return next(p for p in status.ports if p.name == name)


def answer(url: str, timeout: float = 30.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        return str(reply.read().decode().strip())


def wait_answer(url: str, expected: str, timeout: float = EDIT_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        try:
            seen = answer(url, timeout=5)
        except OSError as exc:
            seen = str(exc)
        if expected in seen:
            return
        time.sleep(0.2)
    pytest.fail(f"the app answered {seen!r}, not {expected!r}, after {timeout:g}s")


class Request(threading.Thread):
    """An HTTP request that a breakpoint will hold: sent from a thread, its answer kept."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.result = ""

    def run(self) -> None:
        try:
            self.result = answer(self.url, timeout=60)
        except OSError as exc:
            self.result = f"failed: {exc}"

    def answered(self) -> str:
        self.join(60)
        return self.result


@pytest.fixture(params=["python", "nodejs", "java"])
def debug_run(request, cluster_info, tmp_path: Path) -> Iterator[DebugRun]:
    example = request.param
    path = tmp_path / example
    shutil.copytree(ROOT / "examples" / example, path, ignore=shutil.ignore_patterns(".pyodo"))
    name = load_devfile(path, environ={}).name
    namespace, kube, env = dev_namespace(cluster_info, "pyodo-test-debug")
    log = tmp_path / "dev.log"
    argv = [sys.executable, "-m", "pyodo_tasks.dev", str(path), "--namespace", namespace]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*argv, "--debug", "--seconds", "900"], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    run = DebugRun(path, name, kube, proc, log)
    try:
        yield run
    finally:
        stop_dev(proc)
        quiet = [line for line in run.log_text().splitlines() if "WARNING Retrying" not in line]
        print(f"\n--- doit dev --debug ({example}) ---\n" + "\n".join(quiet[-60:]))
        kube.delete_namespace(namespace)
        kube.close()


def edit_greeting(run: DebugRun, example: str, text: str) -> str:
    """Change the example's greeting; returns the answer the restarted app will give."""
    file, original = GREETINGS[example]
    source = run.path / file
    source.write_text(source.read_text().replace(original, text))
    return f"Hello from {text}"


def line_of(path: Path, marker: str) -> int:
    """The 1-based line of ``path`` holding ``marker``."""
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if marker in line)


T = TypeVar("T")


def connected(what: str, connect: Callable[[], T], timeout: float = 30.0) -> T:
    """``connect()``, again while the debuggee does not listen yet: the app serves (its status
    says RunCommandRunning) a moment before its debugger does, after a start or a restart."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return connect()
        except (DebugClientError, OSError) as exc:
            if time.monotonic() > deadline:
                pytest.fail(f"could not attach {what} within {timeout:g}s: {exc}")
            time.sleep(0.5)


def while_requested(url: str, wait: Callable[[], T]) -> tuple[Request, T]:
    """An HTTP request sent, and ``wait()`` for the debugger's stop it causes; a wait that
    times out says what the request got."""
    request = Request(url)
    request.start()
    try:
        return request, wait()
    except DebugClientError as exc:
        raise DebugClientError(f"{exc}; the request: {request.answered()!r}") from exc


def hit_python(run: DebugRun, debug: ForwardedPort, url: str) -> str:
    line = line_of(run.path / "app.py", "body = ")

    def attach() -> DapClient:
        client = DapClient(debug.local_address, debug.local_port)
        try:
            client.attach({"/projects/app.py": [line]})
        except (DebugClientError, OSError):
            client.stream.close()
            raise
        return client

    client = connected("a DAP client", attach)
    try:
        request, stopped = while_requested(url, lambda: client.event("stopped", timeout=30))
        assert stopped["body"]["reason"] == "breakpoint", stopped
        frames = client.request("stackTrace", threadId=stopped["body"]["threadId"], levels=1)
        top = frames["body"]["stackFrames"][0]
        assert (top["name"], top["line"]) == ("do_GET", line), top
        client.request("continue", threadId=stopped["body"]["threadId"])
        return request.answered()
    finally:
        client.close()


def hit_nodejs(run: DebugRun, debug: ForwardedPort, url: str) -> str:
    host, port = debug.local_address, debug.local_port

    def attach() -> InspectorClient:
        targets = inspector_targets(host, port)
        if len(targets) != 1:
            raise DebugClientError(f"expected the app as the one target, got {targets}")
        ws_path = "/" + targets[0]["webSocketDebuggerUrl"].split("/", 3)[3]
        return InspectorClient(host, port, ws_path)

    client = connected("the inspector", attach)
    try:
        client.call("Debugger.enable")
        line = line_of(run.path / "server.js", "res.writeHead") - 1  # CDP lines are 0-based
        bp = client.call("Debugger.setBreakpointByUrl", lineNumber=line, urlRegex=r"server\.js$")
        assert bp["locations"], f"breakpoint not resolved: {bp}"
        request, paused = while_requested(url, lambda: client.event("Debugger.paused", timeout=30))
        assert paused["params"]["hitBreakpoints"] == [bp["breakpointId"]], paused["params"]
        assert paused["params"]["callFrames"][0]["location"]["lineNumber"] == line
        client.call("Debugger.removeBreakpoint", breakpointId=bp["breakpointId"])
        client.call("Debugger.resume")
        return request.answered()
    finally:
        client.close()


def hit_java(run: DebugRun, debug: ForwardedPort, url: str) -> str:
    answer(url)  # demo.Greeting is loaded on the first request: it must be, to break in it
    client = connected("a JDWP client", lambda: JdwpClient(debug.local_address, debug.local_port))
    try:
        version = client.version()
        assert version["jdwp"][0] >= 1 and "17" in version["vm"], version
        client.id_sizes()
        greeting = client.class_id("Ldemo/Greeting;")
        request_id = client.set_breakpoint(greeting, client.method_id(greeting, "text"))
        request, _ = while_requested(
            url, lambda: client.wait_event(BREAKPOINT, request_id, timeout=30)
        )
        assert request.is_alive(), "the request must wait at the breakpoint"
        client.clear_and_resume(request_id)
        return request.answered()
    finally:
        client.close()


HITS = {"python": hit_python, "nodejs": hit_nodejs, "java": hit_java}
#: What the attach line says for each, before the forwarded address.
ATTACH = {"python": "listens on", "nodejs": "node inspect", "java": "jdb -attach"}


def test_a_debugger_stops_at_a_breakpoint_through_the_forward_across_a_restart(
    debug_run: DebugRun, request: pytest.FixtureRequest
) -> None:
    example = request.node.callspec.params["debug_run"]
    hit = HITS[example]
    status = debug_run.wait_running("the app under the debugger")
    debug, http = debug_run.port(status, "debug"), debug_run.port(status, "http")
    assert debug.local_address == "127.0.0.1"
    attach = f"{ATTACH[example]} 127.0.0.1:{debug.local_port}"
    debug_run.wait_line(attach)
    original = GREETINGS[example][1]
    wait_answer(http.url, f"Hello from {original}")
    assert hit(debug_run, debug, http.url) == f"Hello from {original}"

    expected = edit_greeting(debug_run, example, f"{original}, edited")
    wait_answer(http.url, expected)
    seen = status.observed_generation
    after = debug_run.wait_running("the edit reconciled", lambda s: s.observed_generation > seen)
    assert debug_run.port(after, "debug").local_port == debug.local_port, "the forward is kept"
    assert hit(debug_run, debug, http.url) == expected


def test_pyodo_debug_deploys_the_component_under_test_for_a_debugger(
    cluster_info, admin: Kube, tmp_path: Path
) -> None:
    """``pytest --pyodo-debug``: the Node.js example runs under its inspector, the terminal
    names the forwarded port, and a test reaches the inspector through it."""
    seen = tmp_path / "seen"
    (tmp_path / "test_debuggable.py").write_text(
        "import json, pathlib, urllib.request\n\n"
        "def test_the_inspector_answers_through_the_forward(pyodo_component):\n"
        "    forward = pyodo_component.component.forward('debug')  # the plugin's, reused\n"
        "    url = f'http://{forward.address}/json/list'\n"
        "    (target,) = json.load(urllib.request.urlopen(url, timeout=10))\n"
        "    assert target['url'] == 'file:///projects/server.js', target\n"
        f"    pathlib.Path({str(seen)!r}).write_text(forward.address)\n"
    )
    proc = run_pytest(
        str(tmp_path),
        f"--pyodo-component={NODEJS}",
        "--pyodo-debug",
        *kubeconfig_args(cluster_info),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    address = seen.read_text()
    assert f"[pyodo] nodejs-example: Node inspector on {address}:" in proc.stdout, proc.stdout
    assert leftovers(admin, run_id_of(proc.stdout)) == []
