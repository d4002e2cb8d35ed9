"""The whole ``pytest`` process, side by side: a two-test file against ``examples/nodejs``.

Issue 21's table, in one run on the local cluster: serial, ``-n 2`` and ``-n 4``; a fresh
namespace (with ``--pyodo-teardown=background``, the default, and ``wait``) and
``--pyodo-reuse`` of a component pushed beforehand; and, as the floor, a bare ``pytest`` of a
trivial file (no pyodo fixture: the plugin loads nothing). Each cell: the wall time of the
``python -m pytest`` process, and the time from its start to the first test body (the earliest
over the workers). The deploy and the namespace deletion as the session's summary reports them
are kept too. Nothing is asserted.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.cluster import copy_example, doit_push, namespace, scratch
from benchmarks.runner import Bench

TWO_TESTS = """\
import os, time, urllib.request
from pathlib import Path


def _first():
    stamp = Path({stamps!r}) / os.environ.get("PYTEST_XDIST_WORKER", "main")
    if not stamp.exists():
        stamp.write_text(repr(time.time()))


def test_greets({fixture}):
    _first()
    {body}


def test_again({fixture}):
    _first()
    {body}
"""
HTTP = "assert urllib.request.urlopen(pyodo_endpoint, timeout=10).status == 200"
WORKERS = {"serial": (), "-n 2": ("-n", "2"), "-n 4": ("-n", "4")}
_DEPLOYED = re.compile(r"deployed \S+ in \S+ in ([\d.]+)s")
_DELETED = re.compile(r"deleted namespace/\S+ in ([\d.]+)s")


@dataclass(frozen=True)
class Sample:
    wall: float
    first_test: float
    deploy: float | None
    delete: float | None


def session(work: Path, trivial: bool, *args: str, env: dict[str, str]) -> Sample:
    """One ``python -m pytest`` of the two-test file; raises with its output if it fails."""
    stamps = Path(tempfile.mkdtemp(dir=work))
    tests = work / f"test_wall_{stamps.name}.py"
    fixture, body = ("", "pass") if trivial else ("pyodo_endpoint", HTTP)
    tests.write_text(TWO_TESTS.format(stamps=str(stamps), fixture=fixture, body=body))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests), *args]
    started = time.time()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=900, check=False, env=env, cwd=work
        )
    finally:
        tests.unlink()
    wall = time.time() - started
    if proc.returncode != 0:
        raise RuntimeError(f"pytest failed: {proc.stdout[-1500:]}{proc.stderr[-500:]}")
    firsts = [float(p.read_text()) for p in stamps.iterdir()]
    deploy = _DEPLOYED.search(proc.stdout)
    delete = _DELETED.search(proc.stdout)
    return Sample(
        wall,
        min(firsts) - started,
        float(deploy.group(1)) if deploy else None,
        float(delete.group(1)) if delete else None,
    )


def _cases(component: Path, reuse_ns: str) -> dict[str, tuple[bool, tuple[str, ...], str]]:
    """``name -> (trivial, pytest args, PYODO_NAMESPACE or "")`` in the order they run."""
    cases: dict[str, tuple[bool, tuple[str, ...], str]] = {}
    use = f"--pyodo-component={component}"
    for workers, extra in WORKERS.items():
        cases[f"floor (bare pytest, trivial file), {workers}"] = (True, extra, "")
    for workers, extra in WORKERS.items():
        for mode in ("background", "wait"):
            name = f"fresh namespace, teardown {mode}, {workers}"
            cases[name] = (False, (use, f"--pyodo-teardown={mode}", *extra), "")
    for workers, extra in WORKERS.items():
        cases[f"--pyodo-reuse, {workers}"] = (False, (use, "--pyodo-reuse", *extra), reuse_ns)
    return cases


def _table(results: dict[str, Sample]) -> list[str]:
    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} s"

    rows = [
        "| case | wall time | time to first test | deploy (summary) | namespace deletion |",
        "|---|---|---|---|---|",
    ]
    for name, s in results.items():
        rows.append(
            f"| {name} | {cell(s.wall)} | {cell(s.first_test)} | {cell(s.deploy)} "
            f"| {cell(s.delete)} |"
        )
    return rows


def run(bench: Bench, quick: bool = False) -> None:
    # The cluster's variables stay (`python -m pyodo_tasks.cluster env`); each case sets these.
    chosen = {"PYODO_NAMESPACE", "PYODO_REUSE", "PYODO_TEARDOWN", "PYODO_KEEP", "PYTEST_ADDOPTS"}
    env = {k: v for k, v in os.environ.items() if k not in chosen}
    bench.note(f"load average at start {os.getloadavg()[0]:.1f}")
    with scratch("pytest-wall") as work:
        component = copy_example("nodejs", work)
        results: dict[str, Sample] = {}
        with namespace() as (reuse_ns, _kube):
            doit_push(component, reuse_ns)
            for name, (trivial, args, ns) in _cases(component, reuse_ns).items():
                case_env = dict(env, PYODO_NAMESPACE=ns) if ns else env
                sample = session(work, trivial, *args, env=case_env)
                results[name] = sample
                bench.figure(f"{name}: wall", sample.wall)
                bench.figure(f"{name}: first test", sample.first_test)
                bench.raw[name] = vars(sample)
    bench.note(f"load average at end {os.getloadavg()[0]:.1f}")
    print("\n".join(_table(results)), flush=True)
