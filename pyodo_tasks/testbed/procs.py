"""Start and stop the cluster's daemons as detached processes with pid files.

A pid file records the pid *and* the exact argv, so a stale pid file (the pid reused by some
unrelated process after a reboot or kill) is recognised and that process is never signalled.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pyodo_tasks.errors import ClusterSetupError, WaitTimeout


@dataclass(frozen=True)
class Daemon:
    """One long-running process of the cluster: name, argv, and where its files go."""

    name: str
    argv: list[str]
    pid_dir: Path
    log_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.pid_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"{self.name}.log"


def cmdline(pid: int) -> list[str] | None:
    """Return a live process's argv, or None when it is gone (or a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    if ") Z " in stat or not raw:
        return None
    return raw.rstrip(b"\0").decode(errors="replace").split("\0")


def recorded_pid(pid_file: Path) -> int | None:
    """Return the pid in ``pid_file`` if that process is alive and runs the recorded argv."""
    try:
        data = json.loads(pid_file.read_text())
        pid, argv = int(data["pid"]), list(data["argv"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if cmdline(pid) == argv else None


def running(daemon: Daemon) -> int | None:
    """Pid of ``daemon`` if our recorded process for it is alive, else None."""
    return recorded_pid(daemon.pid_file)


#: Run by an intermediate interpreter: start argv[2:] in its own session with output appended
#: to argv[1], print its pid, exit. The daemon is then a child of init, not of us, so it
#: outlives this process cleanly and is never left as our zombie.
_SPAWN = """
import subprocess, sys
log = open(sys.argv[1], "ab")
proc = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                        start_new_session=True, close_fds=True)
print(proc.pid)
"""


def start(daemon: Daemon, env: dict[str, str] | None = None) -> int:
    """Start ``daemon`` detached (own session, output to its log) unless it already runs."""
    pid = running(daemon)
    if pid is not None:
        return pid
    daemon.pid_dir.mkdir(parents=True, exist_ok=True)
    daemon.log_dir.mkdir(parents=True, exist_ok=True)
    with daemon.log_file.open("ab") as log:
        log.write(f"\n=== {time.strftime('%F %T')} {' '.join(daemon.argv)}\n".encode())
    try:
        proc = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _SPAWN, str(daemon.log_file), *daemon.argv],
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ClusterSetupError(f"cannot start {daemon.name} ({daemon.argv[0]}): {exc}") from exc
    if proc.returncode != 0 or not proc.stdout.strip().isdigit():
        raise ClusterSetupError(
            f"cannot start {daemon.name} ({daemon.argv[0]}): {proc.stderr.strip()[-300:]}"
        )
    pid = int(proc.stdout.strip())
    daemon.pid_file.write_text(json.dumps({"pid": pid, "argv": daemon.argv}))
    return pid


def log_tail(daemon: Daemon, lines: int = 15) -> str:
    """Last lines of a daemon's log, for error messages."""
    try:
        return "\n".join(daemon.log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def ensure_alive(daemon: Daemon) -> None:
    """Raise with the log tail when a daemon we started has died."""
    if running(daemon) is None:
        raise ClusterSetupError(f"{daemon.name} exited; see {daemon.log_file}:\n{log_tail(daemon)}")


def stop_pid(pid: int, argv: list[str], name: str, timeout: float = 20.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; only while ``pid`` still runs ``argv``."""
    if cmdline(pid) != argv:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cmdline(pid) != argv:
            return
        time.sleep(0.1)
    if cmdline(pid) == argv:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        if cmdline(pid) != argv:
            return
        time.sleep(0.1)
    raise WaitTimeout(f"{name} (pid {pid}) to exit after SIGKILL", 10.0)


def stop(daemon: Daemon, timeout: float = 20.0) -> bool:
    """Stop ``daemon`` if our recorded process runs; remove its pid file. True if it ran."""
    try:
        data = json.loads(daemon.pid_file.read_text())
        pid, argv = int(data["pid"]), list(data["argv"])
    except (OSError, ValueError, KeyError, TypeError):
        daemon.pid_file.unlink(missing_ok=True)
        return False
    was_running = cmdline(pid) == argv
    if was_running:
        stop_pid(pid, argv, daemon.name, timeout)
    daemon.pid_file.unlink(missing_ok=True)
    return was_running


def stop_all_recorded(pid_dir: Path, timeout: float = 20.0) -> list[str]:
    """Stop every process recorded in ``pid_dir`` (also ones from a killed earlier run)."""
    stopped: list[str] = []
    if not pid_dir.is_dir():
        return stopped
    for pid_file in sorted(pid_dir.glob("*.pid")):
        daemon = Daemon(pid_file.stem, [], pid_dir, pid_dir)
        if stop(daemon, timeout):
            stopped.append(daemon.name)
    return stopped
