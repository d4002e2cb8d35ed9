"""The pytest plugin at CI scale: time to the first test, and several components in threads.

Time to first test = from starting ``python -m pytest`` to the first test body running (it
writes ``time.time()`` to a file), so it includes Python and plugin start-up, the cluster check,
the deploy, the sync verification and the endpoint wait. Cases: one component serially; under
``-n 4`` with the component shared by the workers (the default) and with a copy per worker
(``shared=False``); ``--pyodo-reuse`` of a component pushed beforehand. (Several components at once:
``benchmarks/deploy_all.py``.)
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from benchmarks.cluster import copy_example, doit_push, namespace, run_pytest, scratch
from benchmarks.runner import Bench

TEST = """\
import os, time, urllib.request
from pathlib import Path
import pytest
{mark}

@pytest.mark.parametrize("n", range(8))
def test_answers(pyodo_endpoint, n):
    first = Path({stamps!r}) / os.environ.get("PYTEST_XDIST_WORKER", "main")
    if not first.exists():
        first.write_text(repr(time.time()))
    with urllib.request.urlopen(pyodo_endpoint, timeout=10) as response:
        assert response.status == 200
"""


def first_test(work: Path, component: Path, *extra: str, own: bool = False) -> float:
    """Seconds from starting pytest to the first test body, over all workers."""
    stamps = Path(tempfile.mkdtemp(dir=work))
    mark = (
        f"pytestmark = pytest.mark.pyodo_component({str(component)!r}, shared=False)" if own else ""
    )
    tests = work / f"test_first_{stamps.name}.py"
    tests.write_text(TEST.format(mark=mark, stamps=str(stamps)))
    env = {k: v for k, v in os.environ.items() if k != "PYODO_NAMESPACE"}
    env.update(extra_env(extra))
    args = [a for a in extra if not a.startswith("ENV:")]
    started = time.time()
    try:
        run_pytest(
            tests, *([] if own else [f"--pyodo-component={component}"]), *args, env=env, cwd=work
        )
    finally:
        tests.unlink()
    firsts = [float(p.read_text()) for p in stamps.iterdir()]
    return min(firsts) - started


def extra_env(extra: tuple[str, ...]) -> dict[str, str]:
    return dict(a[4:].split("=", 1) for a in extra if a.startswith("ENV:"))


def run(bench: Bench, quick: bool = False) -> None:
    rounds = 1 if quick else 2
    with scratch("first-test") as work:
        path = copy_example("nodejs", work)
        cases = {
            "serial, 1 component": (),
            "-n 4, shared by the workers": ("-n", "4"),
        }
        samples: dict[str, list[float]] = {case: [] for case in cases}
        samples["-n 4, a copy per worker"] = []
        for _ in range(rounds):
            for case, extra in cases.items():
                samples[case].append(first_test(work, path, *extra))
            samples["-n 4, a copy per worker"].append(first_test(work, path, "-n", "4", own=True))
        for case, values in samples.items():
            bench.latency(f"time to first test, {case}", values)
        serial = min(samples["serial, 1 component"])
        shared = min(samples["-n 4, shared by the workers"])
        bench.figure(
            "-n 4 shared minus serial (best runs)",
            shared - serial,
            target="<= 2 s",
        )
        with namespace() as (ns, _kube):
            doit_push(path, ns)
            reuse = [
                first_test(work, path, "--pyodo-reuse", f"ENV:PYODO_NAMESPACE={ns}")
                for _ in range(rounds + 1)
            ]
            bench.latency("time to first test, --pyodo-reuse", reuse, target_p50="<= 3 s")
