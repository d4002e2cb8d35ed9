"""The init image's scripts end to end on the host, in a pod-like namespace, without a daemon.

A mount+PID namespace (``unshare``) stands in for the app container: the staged init content is
bind-mounted at /opt/odo-init, an empty dir at /opt/odo (the emptyDir), COPY_SUPERVISORD_COMMAND
copies one onto the other, and APP_CONTAINER_COMMAND runs as PID 1. ``nsenter`` plays
``kubectl exec``. Needs root, util-linux, apt (tini/busybox .debs) and Go; skipped otherwise.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyodo_tasks.core.devfile.model import NO_RUN_COMMAND
from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.runtime import contract
from pyodo_tasks.runtime.image import stage_init_context

pytestmark = [
    pytest.mark.host,
    pytest.mark.skipif(
        os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")),
        reason="needs root, unshare and nsenter",
    ),
]


@pytest.fixture(scope="module")
def init_context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        return stage_init_context(tmp_path_factory.mktemp("init") / "context")
    except ClusterSetupError as exc:
        pytest.skip(f"cannot stage the init image: {exc}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Pod:
    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    log: Path
    src: Path

    def pid1(self) -> int:
        """Host pid of the namespace's PID 1 (unshare's only child)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        return int(children.split()[0])

    def exec(self, argv: list[str], **extra_env: str) -> subprocess.CompletedProcess[str]:
        """Like kubectl exec: the container's env (plus extras), inside its namespaces."""
        return subprocess.run(
            ["nsenter", "-t", str(self.pid1()), "-m", "-p", "--", *argv],
            env={**self.env, **extra_env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    def status(self) -> str:
        return self.exec([*contract.CTL_COMMAND, "status"]).stdout.strip()


@pytest.fixture
def pod(init_context: Path, tmp_path: Path) -> Iterator[Pod]:
    empty_dir = tmp_path / "emptydir"
    empty_dir.mkdir()
    src = tmp_path / "src"
    port = _free_port()
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "PORT": str(port),
        contract.ENV_SRC: str(src),
        contract.ENV_COMMAND_BUILD: 'echo "build $(cat version.txt)" > out.txt',
        contract.ENV_COMMAND_RUN: f"python3 -u -m http.server {port} --bind 127.0.0.1",
    }
    setup = "\n".join(
        [
            "set -e",
            "mount -t tmpfs pyodo-test /opt",  # private to this mount namespace
            "mkdir -p /opt/odo /opt/odo-init",
            f"mount --bind {shlex.quote(str(empty_dir))} /opt/odo",
            f"mount --bind {shlex.quote(str(init_context / 'opt' / 'odo-init'))} /opt/odo-init",
            shlex.join(contract.COPY_SUPERVISORD_COMMAND),
            "exec " + shlex.join(contract.APP_CONTAINER_COMMAND),
        ]
    )
    busybox = init_context / "opt" / "odo-init" / "bin" / "busybox"
    log = tmp_path / "container.log"
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--pid",
                "--fork",
                "--kill-child",  # nothing outlives the test, even if unshare is killed
                "--mount-proc",
                str(busybox),
                "sh",
                "-c",
                setup,
            ],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    the_pod = Pod(proc, env, log, src)
    try:
        _wait("the supervisor", lambda: (empty_dir / "run" / "supervisor.sock").exists())
        yield the_pod
    finally:
        if proc.poll() is None:
            # SIGKILL to the namespace's PID 1 ends every process in it; then unshare exits.
            try:
                os.kill(the_pod.pid1(), signal.SIGKILL)
            except (OSError, ValueError, IndexError):
                proc.kill()
            proc.wait(timeout=20)


def _get(port: str, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/{path}", timeout=3) as response:
        return response.read().decode().strip()


def _pid_of(status: str) -> int:
    return int(dict(kv.split("=", 1) for kv in status.split()[1:])["pid"])


def test_assemble_restart_crash_and_build_failure(pod: Pod) -> None:
    assert pod.status() == "STOPPED"  # the app waits for the first assemble-and-restart
    cmdline = pod.exec(["cat", "/proc/1/cmdline"]).stdout.split("\0")[:-1]
    assert cmdline == contract.APP_CONTAINER_COMMAND
    assert Path(f"/proc/{pod.pid1()}/cmdline").read_bytes().split(b"\0")[0] == b"/opt/odo/bin/tini"

    pod.src.joinpath("version.txt").write_text("1")
    first = pod.exec(contract.ASSEMBLE_AND_RESTART_COMMAND)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "RUNNING pid=" in first.stdout
    port = pod.env["PORT"]

    def answers(text: str) -> Callable[[], bool]:
        def check() -> bool:
            try:
                return _get(port, "out.txt") == text
            except OSError:
                return False

        return check

    _wait("the app to answer", answers("build 1"))
    app_pid = _pid_of(pod.status())
    pid1 = pod.pid1()

    # the app crashes: the supervisor starts it again, PID 1 is unchanged
    pod.exec(["sh", "-c", f"kill -9 {app_pid}"])
    _wait(
        "the app to come back",
        lambda: pod.status().startswith("RUNNING") and _pid_of(pod.status()) != app_pid,
    )
    _wait("the app to answer again", answers("build 1"))
    assert pod.pid1() == pid1

    # a failing build keeps the running app and returns the build's exit code and output
    before = pod.status()
    failed = pod.exec(
        contract.ASSEMBLE_AND_RESTART_COMMAND,
        **{contract.ENV_COMMAND_BUILD: "echo compiling; echo broken >&2; exit 7"},
    )
    assert failed.returncode == 7
    assert "compiling" in failed.stdout and "broken" in failed.stderr
    assert pod.status() == before

    # an edit is rebuilt and the app restarted (new pid)
    pod.src.joinpath("version.txt").write_text("2")
    again = pod.exec(contract.ASSEMBLE_AND_RESTART_COMMAND)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _pid_of(again.stdout.strip().splitlines()[-1]) != _pid_of(before)
    _wait("the new build", answers("build 2"))

    # the app's output is the container's output
    _wait("the app's log line", lambda: "GET /out.txt" in pod.log.read_text())

    # SIGTERM to PID 1 (what the kubelet sends) stops everything promptly
    os.kill(pod.pid1(), signal.SIGTERM)
    assert pod.proc.wait(timeout=20) == 0


def test_ctl_usage_and_nothing_to_run(pod: Pod) -> None:
    assert pod.exec([*contract.CTL_COMMAND, "bogus"]).returncode == 2
    stopped = pod.exec([*contract.CTL_COMMAND, "stop"])
    assert stopped.returncode == 0 and stopped.stdout.strip() == "STOPPED"
    # no run command and no S2I run script on this "image" (an IDE's devfile, GitLab or Che,
    # without commands): built, said in the push's output, nothing started, the push succeeds
    pod.src.joinpath("version.txt").write_text("x")
    nothing = {contract.ENV_COMMAND_RUN: "", contract.ENV_S2I_SCRIPTS: "/nonexistent"}
    result = pod.exec(contract.ASSEMBLE_AND_RESTART_COMMAND, **nothing)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "[pyodo] no run command in the devfile and no /nonexistent/run in the image: "
        "synced and built, nothing started"
    )
    assert pod.src.joinpath("out.txt").read_text().strip() == "build x"
    assert pod.status() == "STOPPED"


def test_without_a_run_command_the_build_runs_and_nothing_starts(pod: Pod) -> None:
    """PYODO_START=false (a devfile with no run command): built, said, nothing started."""
    pod.src.joinpath("version.txt").write_text("3")
    result = pod.exec(contract.ASSEMBLE_AND_RESTART_COMMAND, **{contract.ENV_START: "false"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"[pyodo] {NO_RUN_COMMAND}" in result.stdout
    assert pod.src.joinpath("out.txt").read_text().strip() == "build 3"
    assert pod.status() == "STOPPED"
