"""``doit dev`` and a burst of 1,000 edits in one second: nothing lost.

The burst mixes what an editor, a formatter and a ``git checkout`` do to a tree at once (files
modified, several times over, created, deleted and renamed), spread over one second; the loop
must end with the container holding exactly the tree, and ``doit verify`` passing.
"""

from __future__ import annotations

import random
import time

import pytest

from tests.chaos.workbench import TREE, Workbench, tree_files, write_file
from tests.cluster.test_dev_real import running

pytestmark = [pytest.mark.chaos, pytest.mark.cluster]

FILES = 500
EDITS = 1000
START_TIMEOUT = 180.0
#: Bound on the loop catching up with the burst.
SETTLE_TIMEOUT = 90.0


def burst(bench: Workbench, rng: random.Random, edits: int, seconds: float) -> None:
    """``edits`` changes to the tree, evenly over ``seconds``."""
    started = time.monotonic()
    files = list(tree_files(bench.path))
    for i in range(edits):
        kind = rng.random()
        if kind < 0.1 and len(files) > 10:
            files.pop(rng.randrange(len(files))).unlink()
        elif kind < 0.2 and files:
            path = files.pop(rng.randrange(len(files)))
            files.append(path.rename(path.with_name(f"m{i}-{path.name}")))
        elif kind < 0.3:
            files.append(bench.path / TREE / f"b{i % 7}" / f"new{i}.txt")
            write_file(files[-1], rng)
        else:
            with rng.choice(files).open("a") as out:
                out.write(f"burst {i}\n")
        pause = started + seconds * (i + 1) / edits - time.monotonic()
        if pause > 0:
            time.sleep(pause)


def test_dev_loses_nothing_of_a_burst_of_1000_edits_in_one_second(
    bench: Workbench, record_property: pytest.RecordProperty
) -> None:
    bench.generate(FILES)
    dev = bench.dev()
    dev.wait_status("RunCommandRunning", running, START_TIMEOUT)
    burst(bench, random.Random(3), EDITS, 1.0)
    ended = time.monotonic()
    local = bench.local_digests()
    deadline = ended + SETTLE_TIMEOUT
    while bench.remote_digests(settled=False) != local:
        assert time.monotonic() < deadline, f"not in step {SETTLE_TIMEOUT:g}s after the burst"
        assert dev.proc.poll() is None, dev.log_tail()
        time.sleep(0.5)
    caught_up = time.monotonic() - ended
    dev.wait_status("running after the burst", running, SETTLE_TIMEOUT)
    assert bench.remote_digests() == local, "settled: no leftover of the agent's in the tree"
    print(f"in step {caught_up:.1f}s after a burst of {EDITS} edits in 1 s")
    record_property("burst_in_step_s", round(caught_up, 1))
    assert "verified" in bench.doit("verify").stdout
    bench.stop_all()
    assert dev.proc.returncode == 0, dev.log_tail()
    assert "Traceback" not in dev.log_tail(400)
    bench.assert_nothing_left()
