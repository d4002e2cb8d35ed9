"""Where the time to the first test goes under ``-n 4``: a timeline of each process.

Runs the ``first_test`` case ``-n 4`` (component shared by the workers) and the serial case,
with a ``conftest.py`` that writes a timestamp at each phase of each process (the controller and
every worker): process start (``/proc/self/stat``), plugins imported (the conftest is imported
after pytest, xdist and pyodo's plugin), configured, collected, a test first set up, the fixtures
``pyodo_session`` / ``pyodo_component`` / ``pyodo_endpoint`` set up, the pyodo log lines (cluster
checked, deployed or attached, verified), and the first test body. Printed as seconds from
starting ``python -m pytest``, per process, and as figures for the critical path.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.cluster import copy_example, run_pytest, scratch
from benchmarks.runner import Bench

CONFTEST = """\
import json, logging, os, time
from pathlib import Path

import pytest

OUT = Path({out!r})
WHO = os.environ.get("PYTEST_XDIST_WORKER", "main")


def mark(event, when=None):
    with (OUT / f"{{WHO}}-{{os.getpid()}}.jsonl").open("a") as f:
        f.write(json.dumps([WHO, event, time.time() if when is None else when]) + "\\n")


def _process_start():
    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    btime = next(int(l.split()[1]) for l in open("/proc/stat") if l.startswith("btime"))
    return btime + ticks / os.sysconf("SC_CLK_TCK")


mark("process start", _process_start())
mark("plugins imported")


class Log(logging.Handler):
    def emit(self, record):
        text = record.getMessage()
        for key in ("up in", "checked by another", "deployed in", "attached to", "verified"):
            if key in text:
                mark("log: " + key)


logging.getLogger("pytest_pyodo").addHandler(Log())
SEEN = set()


def once(event):
    if event not in SEEN:
        SEEN.add(event)
        mark(event)


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    mark("configured")


def pytest_collection_finish(session):
    mark("collected")


def pytest_testnodeready(node):
    mark(f"controller: {{node.gateway.id}} ready")


def pytest_xdist_node_collection_finished(node, ids):
    mark(f"controller: {{node.gateway.id}} collected")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    once("first test setup")


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    name = fixturedef.argname
    if name.startswith("pyodo_"):
        once(f"{{name}} setup starts")
    try:
        return (yield)
    finally:
        if name.startswith("pyodo_"):
            once(f"{{name}} set up")


def pytest_runtest_call(item):
    once("first test body")
"""

TEST = """\
import urllib.request
import pytest


@pytest.mark.parametrize("n", range(8))
def test_answers(pyodo_endpoint, n):
    with urllib.request.urlopen(pyodo_endpoint, timeout=10) as response:
        assert response.status == 200
"""


def timeline(work: Path, component: Path, *extra: str) -> tuple[float, list[list]]:
    """``(start, [[who, event, time], ...])`` of one pytest run."""
    out = Path(tempfile.mkdtemp(dir=work))
    case = Path(tempfile.mkdtemp(dir=work))
    (case / "conftest.py").write_text(CONFTEST.format(out=str(out)))
    (case / "test_timeline.py").write_text(TEST)
    env = {k: v for k, v in os.environ.items() if k != "PYODO_NAMESPACE"}
    started = time.time()
    run_pytest(case, f"--pyodo-component={component}", *extra, env=env, cwd=case)
    events = [json.loads(line) for f in out.iterdir() for line in f.read_text().splitlines()]
    return started, sorted(events, key=lambda e: e[2])


def show(bench: Bench, case: str, started: float, events: list[list]) -> None:
    print(f"  -- {case}: seconds from starting pytest", flush=True)
    for who, event, when in events:
        print(f"     {when - started:6.2f}  {who:5} {event}", flush=True)
    bench.raw[case] = [[who, event, round(when - started, 3)] for who, event, when in events]

    def first(event: str, workers: bool = True) -> float:
        found = [w for who, e, w in events if e == event and (who != "main" or not workers)]
        return min(found) - started if found else float("nan")

    for event in ("plugins imported", "collected", "first test setup", "first test body"):
        bench.figure(f"{case}: first {event}", first(event, workers=False))


def run(bench: Bench, quick: bool = False) -> None:
    rounds = 1 if quick else 2
    with scratch("timeline") as work:
        path = copy_example("nodejs", work)
        for i in range(rounds):
            for case, extra in (("serial", ()), ("-n 4 shared", ("-n", "4"))):
                started, events = timeline(work, path, *extra)
                show(bench, f"{case} #{i + 1}", started, events)
        bodies = [f.value for f in bench.figures if f.key.startswith("-n 4") and "body" in f.key]
        if bodies:
            bench.note(f"-n 4 shared, first test body: p50 {statistics.median(bodies):.2f}s")
