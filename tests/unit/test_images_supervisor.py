"""pyodo's supervisor (init image) on the host: start/stop/restart/status, crash restart.

Needs Go to build it (skipped otherwise); no container engine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.runtime.binaries import build_supervisor

pytestmark = pytest.mark.host  # builds the supervisor with Go


@pytest.fixture(scope="module")
def supervisor_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("supervisor") / "supervisor"
    try:
        build_supervisor(out, "amd64")
    except ClusterSetupError as exc:
        pytest.skip(f"cannot build the supervisor: {exc}")
    return out


@dataclass
class Daemon:
    binary: Path
    conf: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def ctl(self, op: str) -> tuple[int, str]:
        proc = subprocess.run(
            [str(self.binary), "ctl", "-c", str(self.conf), "-timeout", "20s", op],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return proc.returncode, proc.stdout.strip()


def _wait(what: str, check: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still "exists"; treat it as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _pid(status: str) -> int:
    fields = dict(part.split("=", 1) for part in status.split()[1:])
    return int(fields["pid"])


@pytest.fixture
def start_daemon(supervisor_bin: Path, tmp_path: Path) -> Iterator[Callable[[str], Daemon]]:
    daemons: list[Daemon] = []

    def start(program_body: str) -> Daemon:
        program = tmp_path / "app"
        program.write_text("#!/bin/sh\n" + program_body)
        program.chmod(0o755)
        setup_marker = tmp_path / "setup-ran"
        setup = tmp_path / "setup"
        setup.write_text(f"#!/bin/sh\ntouch {setup_marker}\n")
        setup.chmod(0o755)
        conf = tmp_path / "supervisor.conf"
        conf.write_text(
            f"program = {program}\nsetup = {setup}\nsocket = {tmp_path}/run/s.sock\n"
            "autostart = false\nstartsecs = 0.3\nstopsecs = 3\n"
        )
        log = tmp_path / "daemon.log"
        with log.open("wb") as handle:
            proc = subprocess.Popen(
                [str(supervisor_bin), "-c", str(conf)], stdout=handle, stderr=subprocess.STDOUT
            )
        daemon = Daemon(supervisor_bin, conf, proc, log)
        daemons.append(daemon)
        _wait("the socket", lambda: (tmp_path / "run" / "s.sock").exists())
        assert setup_marker.exists()
        return daemon

    yield start
    for daemon in daemons:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait(timeout=10)


def test_lifecycle_and_crash_restart(start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon('echo "app says hi"\nexec sleep 300\n')
    assert daemon.ctl("status") == (3, "STOPPED")  # not started before assemble-and-restart

    code, status = daemon.ctl("start")
    assert code == 0 and status.startswith("RUNNING pid=")
    first = _pid(status)
    assert _alive(first)
    _wait("app output in the daemon's stdout", lambda: "app says hi" in daemon.log.read_text())

    os.kill(first, signal.SIGKILL)  # the app crashes: the supervisor brings it back

    def restarted() -> bool:
        code, status = daemon.ctl("status")
        return code == 0 and _pid(status) != first

    _wait("the app to come back", restarted)
    status = daemon.ctl("status")[1]
    assert "restarts=1" in status
    second = _pid(status)

    code, status = daemon.ctl("restart")
    assert code == 0 and _pid(status) != second
    third = _pid(status)
    _wait("the old app to be gone", lambda: not _alive(second))

    assert daemon.ctl("stop") == (0, "STOPPED exit=143")
    _wait("the app to stop", lambda: not _alive(third))
    assert daemon.ctl("status")[0] == 3

    daemon.ctl("start")
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=15) == 0
    assert daemon.ctl("status")[0] == 4  # socket gone with the daemon


def test_crash_on_start_reports_backoff(start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon("echo boom >&2\nexit 3\n")
    code, status = daemon.ctl("start")
    assert code == 1
    assert status == "BACKOFF exit=3"
    assert daemon.ctl("stop")[0] == 0


def test_leftover_group_members_are_killed(
    start_daemon: Callable[[str], Daemon], tmp_path: Path
) -> None:
    pidfile = tmp_path / "child.pid"
    daemon = start_daemon(f"sleep 300 &\necho $! > {pidfile}\nexec sleep 301\n")
    code, status = daemon.ctl("start")
    assert code == 0
    _wait("the child pid", lambda: pidfile.exists() and pidfile.read_text().strip() != "")
    child = int(pidfile.read_text())
    os.kill(_pid(status), signal.SIGKILL)
    _wait("the orphaned group member to be killed", lambda: not _alive(child))
    daemon.ctl("stop")


def test_unknown_command_and_usage(start_daemon: Callable[[str], Daemon]) -> None:
    daemon = start_daemon("exec sleep 300\n")
    code, out = daemon.ctl("dance")
    assert code == 2 and out.startswith("ERROR unknown command")
