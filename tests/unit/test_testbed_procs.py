"""Daemon identity: pid files that survive pid reuse and never race a just-started process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.testbed import procs
from pyodo_tasks.testbed.layout import Layout
from pyodo_tasks.testbed.local import LocalProvider

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


def _daemon(tmp_path: Path, name: str = "sleeper", argv: list[str] | None = None) -> procs.Daemon:
    return procs.Daemon(name, argv or SLEEP, tmp_path / "pids", tmp_path / "logs")


def test_a_process_checked_immediately_after_spawn_is_alive() -> None:
    # The window the old cmdline check fell into: /proc/<pid>/cmdline reads empty while the
    # kernel is still loading the new binary, right after Popen returns. Checked at once, 100
    # times, the identity recorded at spawn must say "alive" every time.
    for _ in range(100):
        proc = subprocess.Popen(SLEEP)
        try:
            ident = procs.identify(proc.pid)
            assert ident is not None
            assert ident.alive()
        finally:
            proc.kill()
            proc.wait()
        assert not ident.alive()


def test_a_started_daemon_is_alive_when_checked_at_once(tmp_path) -> None:
    daemons = [_daemon(tmp_path, f"d{i}") for i in range(10)]
    try:
        for d in daemons:
            pid = procs.start(d)
            procs.ensure_alive(d)  # raised "exited" on a healthy etcd before
            assert procs.running(d) == pid
    finally:
        for d in daemons:
            procs.stop(d, timeout=5)
    assert all(procs.running(d) is None for d in daemons)


def test_start_and_stop_a_detached_daemon(tmp_path) -> None:
    d = _daemon(tmp_path)
    pid = procs.start(d)
    assert procs.running(d) == pid
    assert procs.start(d) == pid  # idempotent
    record = json.loads(d.pid_file.read_text())
    assert record["pid"] == pid and record["start_time"] > 0 and record["boot_id"]
    assert Path(record["exe"]).resolve() == Path(sys.executable).resolve()
    assert procs.stop(d, timeout=5) is True
    assert procs.running(d) is None
    assert not d.pid_file.exists()


def _this_process() -> procs.ProcessIdentity:
    me = procs.identify(os.getpid())
    assert me is not None
    return me


def _recorded(tmp_path: Path, record: dict[str, Any]) -> procs.Daemon:
    """A daemon whose pid file holds ``record``."""
    d = _daemon(tmp_path)
    d.pid_dir.mkdir(parents=True)
    d.pid_file.write_text(json.dumps(record))
    return d


def test_a_pid_file_for_a_reused_pid_is_ignored_and_that_process_not_signalled(tmp_path) -> None:
    me = _this_process()
    # Same pid, different start time: what a recycled pid looks like.
    d = _recorded(tmp_path, {**me.to_json(), "start_time": me.start_time - 1})
    assert procs.running(d) is None
    assert procs.stop(d) is False  # and we are still here
    assert not d.pid_file.exists()


def test_a_pid_file_from_another_boot_is_ignored(tmp_path) -> None:
    d = _recorded(tmp_path, {**_this_process().to_json(), "boot_id": "another-boot"})
    assert procs.running(d) is None


def _wait_for_cmdline(pid: int, argv: list[str]) -> None:
    deadline = time.monotonic() + 5
    while procs.cmdline(pid) != argv:
        assert time.monotonic() < deadline, "process never showed its command line"
        time.sleep(0.01)


def test_an_old_style_pid_file_is_matched_by_its_command_line(tmp_path) -> None:
    # Written by a pyodo before identities were recorded: such a cluster still stops.
    argv = [*SLEEP, str(tmp_path)]
    proc = subprocess.Popen(argv, start_new_session=True)
    try:
        _wait_for_cmdline(proc.pid, argv)  # all an old record can be compared by
        d = _daemon(tmp_path, argv=argv)
        d.pid_dir.mkdir(parents=True)
        d.pid_file.write_text(json.dumps({"pid": 1, "argv": argv}))
        assert procs.running(d) is None  # pid 1 runs something else
        d.pid_file.write_text(json.dumps({"pid": proc.pid, "argv": argv}))
        assert procs.running(d) == proc.pid
        assert procs.stop(d, timeout=5) is True
        assert proc.wait(timeout=5) == -signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()


def test_a_daemon_that_dies_at_once_is_reported_with_its_log(tmp_path) -> None:
    code = "print('unknown flag --bogus', flush=True); raise SystemExit(3)"
    d = _daemon(tmp_path, "crasher", [sys.executable, "-c", code])
    deadline = time.monotonic() + 10
    with pytest.raises(ClusterSetupError, match="crasher exited") as info:
        procs.start(d)
        while time.monotonic() < deadline:
            procs.ensure_alive(d)
            time.sleep(0.01)
    assert "unknown flag --bogus" in str(info.value)


class _FailingBoot(LocalProvider):
    """Boots two real daemons, then fails the way a daemon that never gets ready does."""

    argv: ClassVar[list[str]] = []

    def _boot(self, archives):  # type: ignore[override]
        lay = self.layout
        for name in ("etcd", "kubelet"):
            procs.start(procs.Daemon(name, self.argv, lay.pids, lay.logs))
        raise ClusterSetupError("containerd socket never appeared")


def test_a_failed_up_stops_every_daemon_it_started_and_keeps_their_logs(
    tmp_path, monkeypatch
) -> None:
    from pyodo_tasks.testbed import debs, gobuild, localimages

    monkeypatch.setattr(debs, "ensure_packages", lambda: [])
    monkeypatch.setattr(gobuild, "ensure_kube_binaries", lambda *_args: tmp_path)
    lay = Layout(
        state=tmp_path / "state",
        run=tmp_path / "run",
        cache=tmp_path / "cache",
    )
    messages: list[str] = []
    provider = _FailingBoot(layout=lay, progress=messages.append)
    provider.argv = [*SLEEP, str(tmp_path)]  # unique: find leftovers by it
    monkeypatch.setattr(localimages, "image_archives", lambda *_args: [])
    with pytest.raises(ClusterSetupError, match="never appeared"):
        provider.up()
    left = [p.name for p in Path("/proc").iterdir() if str(tmp_path) in _cmdline(p)]
    assert left == []
    assert not list(lay.pids.glob("*.pid"))
    assert {p.name for p in lay.logs.glob("*.log")} == {"etcd.log", "kubelet.log"}
    assert any("up failed; stopping what it started" in m for m in messages)


def _cmdline(proc_dir: Path) -> str:
    try:
        return Path(proc_dir, "cmdline").read_bytes().decode(errors="replace")
    except OSError:  # not a process, or it just exited
        return ""


def test_a_waiting_up_says_which_process_holds_the_lock(tmp_path, monkeypatch) -> None:
    from pyodo_tasks.errors import WaitTimeout
    from pyodo_tasks.testbed import uplock

    monkeypatch.setattr(uplock, "LOCK_TIMEOUT", 0.3)
    lay = Layout(state=tmp_path / "state", run=tmp_path / "run", cache=tmp_path / "cache")
    seen: list[str] = []
    holder = LocalProvider(layout=lay, progress=lambda _m: None)
    waiter = LocalProvider(layout=lay, progress=seen.append)
    with holder._lock(), pytest.raises(WaitTimeout, match="another up/down"), waiter._lock():
        pass
    assert seen[0].startswith(f"waiting for another up/down to finish (pid {os.getpid()}: ")
    assert seen[-1].startswith("waiting for another up/down to finish (pid ")
    assert "failed after" in seen[-1]
    assert not (tmp_path / "state.holder").exists()  # the note goes with the lock
