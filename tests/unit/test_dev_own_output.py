"""``doit dev`` never syncs what it writes itself, and stops on SIGINT/SIGTERM even when started
in the background by a script (where SIGINT starts ignored). No cluster: the loop's pieces, in
real subprocesses where the behaviour depends on the process (its fds, its signal dispositions).
The whole loop on the cluster: tests/cluster/test_dev_own_output_real.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from watchfiles import Change

from pyodo_tasks.core.index import FileIndex
from pyodo_tasks.dev.files import WatchFilter

ROOT = Path(__file__).parents[2]


def own_outputs(tmp_path: Path, stdout: object, stderr: object) -> list[str]:
    """What a fresh process with these stdout/stderr reports as its own output files."""
    result = tmp_path / "result.json"
    code = (
        "import json, sys\n"
        "from pyodo_tasks.dev.files import own_output_files\n"
        "with open(sys.argv[1], 'w') as f:\n"
        "    json.dump([str(p) for p in own_output_files()], f)\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(result)],
        stdout=stdout,
        stderr=stderr,
        timeout=60,
        check=True,
    )
    return json.loads(result.read_text())


def test_a_log_file_the_output_is_redirected_to_is_named(tmp_path: Path) -> None:
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        assert own_outputs(tmp_path, out, subprocess.STDOUT) == [str(log.resolve())]


def test_pipes_and_dev_null_are_not_files_of_ours(tmp_path: Path) -> None:
    assert own_outputs(tmp_path, subprocess.PIPE, subprocess.DEVNULL) == []


def test_the_index_never_holds_excluded_files_or_doit_databases(tmp_path: Path) -> None:
    root = tmp_path / "c"
    (root / "sub").mkdir(parents=True)
    for name in ("app.js", "dev.log", ".doit.db", ".doit.db-journal", "sub/.doit.db.dat"):
        (root / name).write_text("x")
    snapshot = FileIndex(root, exclude=[root / "dev.log", tmp_path / "outside.log"]).scan()
    assert sorted(snapshot) == ["app.js", "sub"]
    assert "dev.log" in FileIndex(root).scan(), "only the excluded file is left out"


def test_the_watcher_drops_events_of_excluded_files(tmp_path: Path) -> None:
    log = tmp_path / "dev.log"
    keep = WatchFilter(exclude=[log])
    assert not keep(Change.modified, str(log.resolve()))
    assert not keep(Change.modified, str(tmp_path / ".doit.db-wal"))
    assert keep(Change.modified, str(tmp_path / "app.js"))


LOOP = """
import sys, time
from pyodo_tasks.dev.session import _interrupt_on_signals
restore = _interrupt_on_signals()
print("ready", flush=True)
try:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.05)
    print("not stopped", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
finally:
    restore()
"""


def start_in_background(tmp_path: Path) -> tuple[int, Path]:
    """Start LOOP the way a script does ``cmd > log &``: SIGINT starts ignored."""
    log = tmp_path / "loop.log"
    script = tmp_path / "loop.py"
    script.write_text(LOOP)
    shell = '"$0" "$1" > "$2" 2>&1 & echo $!'
    pid = subprocess.run(
        ["sh", "-c", shell, sys.executable, str(script), str(log)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    ).stdout.strip()
    deadline = time.monotonic() + 60
    while "ready" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "the loop never started"
        time.sleep(0.05)
    return int(pid), log


def sigint_ignored(pid: int) -> bool:
    fields = Path(f"/proc/{pid}/status").read_text().splitlines()
    ignored = next(line.split()[1] for line in fields if line.startswith("SigIgn:"))
    return bool(int(ignored, 16) & (1 << (signal.SIGINT - 1)))


def gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_sigint_stops_the_loop_started_in_the_background_by_a_script(tmp_path: Path) -> None:
    pid, log = start_in_background(tmp_path)
    try:
        os.kill(pid, signal.SIGINT)
        assert gone(pid, 20), "SIGINT did not stop it"
    finally:
        if not gone(pid, 0):
            os.kill(pid, signal.SIGKILL)
    assert log.read_text().split() == ["ready", "interrupted"]


def test_sigterm_stops_the_loop_the_same_way(tmp_path: Path) -> None:
    pid, log = start_in_background(tmp_path)
    try:
        os.kill(pid, signal.SIGTERM)
        assert gone(pid, 20), "SIGTERM did not stop it"
    finally:
        if not gone(pid, 0):
            os.kill(pid, signal.SIGKILL)
    assert log.read_text().split() == ["ready", "interrupted"]


def test_a_script_started_background_process_does_start_with_sigint_ignored(
    tmp_path: Path,
) -> None:
    """The premise of the two tests above, checked on this machine's shell."""
    code = "import time; print('ready', flush=True); time.sleep(30)"
    script = tmp_path / "sleep.py"
    script.write_text(code)
    log = tmp_path / "sleep.log"
    pid = int(
        subprocess.run(
            ["sh", "-c", '"$0" "$1" > "$2" 2>&1 & echo $!', sys.executable, script, log],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    )
    try:
        deadline = time.monotonic() + 30
        while "ready" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert sigint_ignored(pid)
    finally:
        os.kill(pid, signal.SIGKILL)


def test_a_loop_thread_dying_of_a_bug_is_one_warning_line(caplog, capsys, monkeypatch) -> None:
    import logging
    import threading

    from pyodo_tasks.dev.session import _report_thread_bugs

    monkeypatch.delenv("PYODO_DEBUG", raising=False)

    def crash() -> None:
        raise ValueError("watch root vanished")

    restore = _report_thread_bugs()
    try:
        with caplog.at_level(logging.WARNING, logger="pyodo_tasks.dev.session"):
            thread = threading.Thread(target=crash, name="pyodo-dev-files")
            thread.start()
            thread.join(10)
    finally:
        restore()
    (record,) = caplog.records
    assert record.getMessage().startswith(
        "pyodo-dev-files stopped: pyodo bug: ValueError: watch root vanished"
    )
    assert "Traceback" not in capsys.readouterr().err
