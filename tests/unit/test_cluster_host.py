"""Pid-file handling and host clean-up helpers that need no cluster."""

from __future__ import annotations

import json
import sys

from pyodo_tasks.cluster import hostclean, kind, procs


def test_stale_pid_file_for_another_command_is_ignored(tmp_path) -> None:
    d = procs.Daemon("x", ["/nonexistent/binary", "--flag"], tmp_path, tmp_path)
    # Our own pid runs python, not the recorded argv: must not count as "running".
    d.pid_file.write_text(json.dumps({"pid": 1, "argv": d.argv}))
    assert procs.running(d) is None
    assert procs.stop(d) is False
    assert not d.pid_file.exists()


def test_start_and_stop_a_detached_daemon(tmp_path) -> None:
    d = procs.Daemon(
        "sleeper",
        [sys.executable, "-c", "import time; time.sleep(60)"],
        tmp_path / "pids",
        tmp_path / "logs",
    )
    pid = procs.start(d)
    assert procs.running(d) == pid
    assert procs.start(d) == pid  # idempotent
    assert procs.stop(d, timeout=5) is True
    assert procs.running(d) is None


def test_mountinfo_unescape() -> None:
    assert hostclean._unescape(r"/var/lib/a\040b") == "/var/lib/a b"


def test_rule_target_parsing() -> None:
    assert hostclean._target(["-A", "FORWARD", "-j", "KUBE-FORWARD"]) == "KUBE-FORWARD"
    assert hostclean._target(["-A", "X", "-g", "CNI-1"]) == "CNI-1"
    assert hostclean._target(["-A", "X", "-s", "1.2.3.4"]) is None


def test_kind_pull_failure_detection() -> None:
    out = 'ERROR: failed to create cluster: failed to pull image "kindest/node:v1.34.0"'
    assert kind.is_image_pull_failure(out)
    assert not kind.is_image_pull_failure("ERROR: failed to create cluster: port in use")
    assert kind._pulled_image(out) == "kindest/node:v1.34.0"
