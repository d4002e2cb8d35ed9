"""Start and stop the cluster's daemons as detached processes with pid files.

A process is identified by what the kernel fixes when it is created and never changes: its
start time (``/proc/<pid>/stat`` field 22, clock ticks since boot), the boot it belongs to
(``/proc/sys/kernel/random/boot_id``) and, once it has exec'd, its executable
(``/proc/<pid>/exe``). The pid file records all of them at spawn. A reused pid (after a reboot, or
a recycled pid) never matches, so an unrelated process is never signalled; and a daemon checked a
microsecond after it was spawned is alive. Comparing ``/proc/<pid>/cmdline`` is not safe for
this: it reads empty for a short window while the kernel loads the new binary (measured: 252 of
300 reads right after ``Popen`` returned), which once made ``up`` call a healthy etcd "exited".
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pyodo_tasks import host
from pyodo_tasks.core.wait import wait_for
from pyodo_tasks.errors import ClusterSetupError, WaitTimeout

__all__ = [
    "Daemon",
    "ProcessIdentity",
    "cmdline",
    "ensure_alive",
    "identify",
    "log_tail",
    "running",
    "start",
    "stop",
    "stop_all_recorded",
    "stop_process",
]

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


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


@dataclass(frozen=True)
class ProcessIdentity:
    """What makes a process *this* process: pid, start time, boot, executable.

    ``exe`` is empty when it could not be read; then only pid, start time and boot are compared.
    It is read after the exec (``Popen`` returns only then), so a daemon that later execs another
    program reads as gone: start daemons directly, not through a wrapper script that execs them.
    """

    pid: int
    start_time: int
    boot_id: str
    exe: str

    def alive(self) -> bool:
        """True while this very process exists and is not a zombie."""
        now = identify(self.pid)
        if now is None or now.start_time != self.start_time or now.boot_id != self.boot_id:
            return False
        return not (self.exe and now.exe and now.exe != self.exe)

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _boot_id() -> str:
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return ""


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of ``/proc/<pid>/stat`` (after the ``(comm)``, which may hold spaces)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()


def _exe(pid: int) -> str:
    try:
        target = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""
    return target.removesuffix(" (deleted)")  # the package was upgraded while it ran


def identify(pid: int) -> ProcessIdentity | None:
    """The identity of the live process ``pid``, or None when it is gone or a zombie."""
    fields = _stat_fields(pid)
    if not fields or len(fields) < 20 or fields[0] in ("Z", "X"):
        return None
    return ProcessIdentity(pid, int(fields[19]), _boot_id(), _exe(pid))


def cmdline(pid: int) -> list[str] | None:
    """A live process's argv, or None when gone, a zombie, or (briefly, during exec) unreadable.

    Only for recognising processes pyodo did not start itself (shims, pod processes); our own
    daemons are recognised by :class:`ProcessIdentity`.
    """
    if identify(pid) is None:
        return None
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    if not raw:
        return None
    return raw.rstrip(b"\0").decode(errors="replace").split("\0")


def _read_record(pid_file: Path) -> ProcessIdentity | None:
    """The identity a pid file recorded, if that process still runs.

    Pid files written before identities were recorded (``{"pid", "argv"}``) are matched by
    cmdline, so a cluster started by an older pyodo is still stopped by this one.
    """
    try:
        data = json.loads(pid_file.read_text())
        pid = int(data["pid"])
        if "start_time" in data:
            ident = ProcessIdentity(
                pid, int(data["start_time"]), str(data["boot_id"]), str(data.get("exe", ""))
            )
            return ident if ident.alive() else None
        argv = list(data["argv"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return identify(pid) if cmdline(pid) == argv else None


def running(daemon: Daemon) -> int | None:
    """Pid of ``daemon`` if the process its pid file recorded is alive, else None."""
    ident = _read_record(daemon.pid_file)
    return ident.pid if ident else None


#: Run by an intermediate interpreter: start argv[2:] in its own session with output appended
#: to argv[1], print its pid, exit. The daemon is then a child of init, not of us, so it
#: outlives this process cleanly and is never left as our zombie. Popen returns only once the
#: exec has passed its point of no return, so the pid already names the daemon's binary.
_SPAWN = """
import subprocess, sys
log = open(sys.argv[1], "ab")
proc = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                        start_new_session=True, close_fds=True)
print(proc.pid, flush=True)
"""


def start(daemon: Daemon, env: dict[str, str] | None = None) -> int:
    """Start ``daemon`` detached (own session, output to its log) unless it already runs.

    ``env`` is added to this process's environment for the daemon.

    The pid file holds the process's identity from the moment it exists, so a check right
    after this returns sees it alive (or, if it already died, its log tail).
    """
    pid = running(daemon)
    if pid is not None:
        return pid
    daemon.pid_dir.mkdir(parents=True, exist_ok=True)
    daemon.log_dir.mkdir(parents=True, exist_ok=True)
    with daemon.log_file.open("ab") as log:
        log.write(f"\n=== {time.strftime('%F %T')} {' '.join(daemon.argv)}\n".encode())
    proc = host.run(
        [sys.executable, "-I", "-S", "-c", _SPAWN, str(daemon.log_file), *daemon.argv],
        timeout=30,
        what=f"starting {daemon.name}",
        env=env,
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout.strip().isdigit():
        raise ClusterSetupError(
            f"cannot start {daemon.name} ({daemon.argv[0]}): {proc.stderr.strip()[-300:]}"
        )
    pid = int(proc.stdout.strip())
    ident = identify(pid)
    if ident is None:
        raise ClusterSetupError(
            f"{daemon.name} exited at once; see {daemon.log_file}:\n{log_tail(daemon)}"
        )
    record = {**ident.to_json(), "argv": daemon.argv}
    tmp = daemon.pid_file.with_suffix(".pid.tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, daemon.pid_file)
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


def _wait_gone(ident: ProcessIdentity, timeout: float) -> bool:
    try:
        wait_for(
            lambda: (None if ident.alive() else True, "still running"),
            f"pid {ident.pid} to exit",
            timeout,
            interval=0.05,
        )
    except WaitTimeout:
        return False
    return True


def stop_process(ident: ProcessIdentity, name: str, timeout: float = 20.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; signals only while ``ident`` is that process."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        if not ident.alive():
            return
        try:
            os.kill(ident.pid, sig)
        except ProcessLookupError:
            return
        if _wait_gone(ident, wait):
            return
    raise WaitTimeout(f"{name} (pid {ident.pid}) to exit after SIGKILL", 10.0)


def stop(daemon: Daemon, timeout: float = 20.0) -> bool:
    """Stop ``daemon`` if its recorded process runs; remove its pid file. True if it ran."""
    ident = _read_record(daemon.pid_file)
    if ident is not None:
        stop_process(ident, daemon.name, timeout)
    daemon.pid_file.unlink(missing_ok=True)
    return ident is not None


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
