"""A second ``doit dev`` on a component one already runs: it refuses, never fights.

Two loops would each sync, build and restart the app, rewrite each other's status and forward
the same endpoints. The second must exit at once with pyodo's one-line error naming the first,
and leave the first's pod, status and forward untouched.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.chaos.workbench import Workbench
from tests.cluster.test_dev_real import ANSWER

pytestmark = [pytest.mark.chaos, pytest.mark.cluster]

#: The refusal comes before anything touches the cluster.
REFUSAL_TIMEOUT = 60.0


def test_a_second_doit_dev_on_the_same_component_refuses_and_leaves_the_first_alone(
    bench: Workbench,
) -> None:
    first, before = bench.serving_dev()

    second = bench.spawn(bench.doit_argv("dev", "--seconds", "60"))
    try:
        said, _ = second.communicate(timeout=REFUSAL_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("the second doit dev did not refuse: two loops run on one component")
    assert second.returncode == 1, said
    refusal = [line for line in said.splitlines() if line.startswith("pyodo")]
    assert len(refusal) == 1 and "doit dev already runs" in refusal[0], said
    assert f"pid {first.proc.pid}" in refusal[0], refusal
    assert "Traceback" not in said

    after = first.status()
    assert after == before, "the first loop's status is untouched"
    first.wait_answer(ANSWER, 10)
    bench.stop_all()
    assert first.proc.returncode == 0, first.log_tail()
    bench.assert_nothing_left()
