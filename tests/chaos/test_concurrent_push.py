"""Two ``doit push`` at once in one component, with edits made while they run.

Each may succeed or fail with pyodo's one-line error, never a traceback; a settling push then
leaves the pod in step with the tree.
"""

from __future__ import annotations

import random
import subprocess
import time

import pytest

from tests.chaos.workbench import Workbench, kill_session

pytestmark = [pytest.mark.chaos, pytest.mark.cluster]

FILES = 600
ROUNDS = 2
#: Bound on each of the two pushes.
PUSH_TIMEOUT = 120.0


def test_two_pushes_at_once_with_edits_meanwhile_then_a_push_is_in_step(
    bench: Workbench, record_property: pytest.RecordProperty
) -> None:
    bench.pushed_tree(FILES)
    rng = random.Random(2)
    outcomes = []
    for _ in range(ROUNDS):
        bench.churn(rng, modify=0.5)
        first = bench.spawn(bench.doit_argv("push"))
        time.sleep(0.4)
        bench.churn(rng, modify=0.05, moves=5)
        second = bench.spawn(bench.doit_argv("push"))
        time.sleep(0.4)
        bench.churn(rng, modify=0.05, moves=5)
        for proc in (first, second):
            try:
                output, _ = proc.communicate(timeout=PUSH_TIMEOUT)
            except subprocess.TimeoutExpired:
                kill_session(proc)
                raise
            assert "Traceback" not in output, output
            if proc.returncode != 0:
                errors = [line for line in output.splitlines() if line.startswith("pyodo")]
                assert errors, f"exit {proc.returncode} without pyodo's one-line error:\n{output}"
            outcomes.append(proc.returncode)
        bench.assert_in_step()
    print(f"exit statuses of the concurrent pushes: {outcomes}")
    record_property("concurrent_push_exits", outcomes)
    bench.assert_nothing_left()
