"""SIGKILL of ``doit push`` in the middle of a 3,000-file sync, then a push again.

Each round changes the whole tree (every file modified, some deleted, renamed and created), starts
``doit push``, kills its whole session with SIGKILL a moment after the push said it entered a
stage (the line it prints there), then pushes again: the pod must end in step with the tree.
"""

from __future__ import annotations

import random
import threading
import time

import pytest

from tests.chaos.workbench import Workbench, kill_session

pytestmark = [pytest.mark.chaos, pytest.mark.cluster]

FILES = 3000
#: (the stage, the line the push prints on entering it, seconds after that line to kill).
KILLS = [
    ("index", ".  index", 0.0),
    ("copy, early", "Syncing files into", 0.15),
    ("copy, late", "Syncing files into", 0.6),
    ("restart", "[pyodo] restarting the app", 0.0),
]
#: Bound on one killed push (it is killed well before).
ROUND_TIMEOUT = 120.0


def push_killed_after(bench: Workbench, marker: str, delay: float) -> str:
    """Start ``doit push``, SIGKILL it ``delay`` s after it printed ``marker``; its output."""
    proc = bench.spawn(bench.doit_argv("push"))
    watchdog = threading.Timer(ROUND_TIMEOUT, kill_session, [proc])
    watchdog.start()
    seen = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if line.startswith(marker):
                time.sleep(delay)
                kill_session(proc)
                seen.append(f"<killed {delay:g}s after this line's stage began>\n")
                break
        proc.wait(30)
    finally:
        watchdog.cancel()
    return "".join(seen)


def test_push_killed_at_each_stage_then_pushed_again_is_in_step(
    bench: Workbench, record_property: pytest.RecordProperty
) -> None:
    bench.pushed_tree(FILES)
    rng = random.Random(20)
    settle_seconds = {}
    for stage, marker, delay in KILLS:
        bench.churn(rng)
        output = push_killed_after(bench, marker, delay)
        assert "<killed" in output, f"the push ended before {stage}:\n{output}"
        settle_seconds[stage] = round(bench.assert_in_step(), 2)
    print(f"settling push after a SIGKILL, by stage (s): {settle_seconds}")
    record_property("settle_after_kill_s", settle_seconds)
    bench.assert_nothing_left()
