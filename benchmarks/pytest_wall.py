"""The whole ``pytest`` process, side by side: a two-test file against ``examples/nodejs``.

Issue 21's table, in one run on the local cluster: serial, ``-n 2`` and ``-n 4``; a fresh
namespace (``--pyodo-teardown=background``, the default; ``wait`` serially, for comparison) and
``--pyodo-reuse`` of a component pushed beforehand; and, as the floor, a bare ``pytest`` of a
trivial file (no pyodo fixture: the plugin loads nothing). Each cell: the wall time of the
``python -m pytest`` process, and the time from its start to the first test body (the earliest
over the workers), the median of ``ROUNDS`` rounds (the cases alternate within a round); the
ratios divide by the floor of the same worker count and by the same case run serially. The
deploy and the namespace deletion as the session's summary reports them are kept too, and the
issue's goals are printed against the figures. Nothing is asserted.
"""

from __future__ import annotations

import os
import re
import statistics
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
ROUNDS = 3
FLOOR, FRESH, REUSE = "floor (bare pytest, trivial file)", "fresh namespace", "--pyodo-reuse"
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
    if wall - min(firsts) + started > 3.0:  # a slow end: show what the session said it did
        print("    slow end:", *proc.stdout.splitlines()[-8:], sep="\n      ")
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
        cases[f"{FLOOR}, {workers}"] = (True, extra, "")
        cases[f"{FRESH}, {workers}"] = (False, (use, *extra), "")
        cases[f"{REUSE}, {workers}"] = (False, (use, "--pyodo-reuse", *extra), reuse_ns)
    cases[f"{FRESH}, teardown wait, serial"] = (False, (use, "--pyodo-teardown=wait"), "")
    return cases


def _median(samples: list[Sample]) -> Sample:
    def mid(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return statistics.median(known) if known else None

    return Sample(
        statistics.median(s.wall for s in samples),
        statistics.median(s.first_test for s in samples),
        mid([s.deploy for s in samples]),
        mid([s.delete for s in samples]),
    )


def _ratios(name: str, s: Sample, results: dict[str, Sample]) -> tuple[str, str]:
    """``wall ÷ floor wall`` of the same worker count, ``wall ÷ the same case's serial wall``."""
    workers = name.rsplit(", ", 1)[-1]
    floor = results.get(f"{FLOOR}, {workers}")
    serial = results.get(name.rsplit(", ", 1)[0] + ", serial")
    over_floor = f"{s.wall / floor.wall:.1f}x" if floor and not name.startswith(FLOOR) else "-"
    over_serial = f"{s.wall / serial.wall:.1f}x" if serial and workers != "serial" else "-"
    return over_floor, over_serial


def _table(results: dict[str, Sample]) -> list[str]:
    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} s"

    rows = [
        "| case | wall time | time to first test | wall ÷ floor | wall ÷ serial "
        "| deploy (summary) | namespace deletion |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in results.items():
        over_floor, over_serial = _ratios(name, s, results)
        rows.append(
            f"| {name} | {cell(s.wall)} | {cell(s.first_test)} | {over_floor} | {over_serial} "
            f"| {cell(s.deploy)} | {cell(s.delete)} |"
        )
    return rows


def _goals(r: dict[str, Sample]) -> list[str]:
    """Issue 21's goals against the medians."""
    serial, n4 = r[f"{FRESH}, serial"], r[f"{FRESH}, -n 4"]
    floor, floor4 = r[f"{FLOOR}, serial"], r[f"{FLOOR}, -n 4"]
    over = serial.wall - (serial.deploy or 0.0) - floor.wall
    return [
        f"serial fresh: {serial.wall:.1f} s = deploy {serial.deploy or 0:.1f} s + floor "
        f"{floor.wall:.1f} s + {over:.1f} s (goal: within 3 s)",
        f"-n 4 fresh: {n4.wall:.1f} s = serial + {n4.wall - serial.wall:.1f} s (goal: within 3 s); "
        f"xdist's own cost, floor -n 4 - floor serial: {floor4.wall - floor.wall:.1f} s",
        f"--pyodo-reuse serial: {r[f'{REUSE}, serial'].wall:.1f} s wall "
        "(goal: as fast as before, 1.3 s on a quiet machine)",
    ]


def _retried(
    bench: Bench,
    name: str,
    work: Path,
    trivial: bool,
    args: tuple[str, ...],
    env: dict[str, str],
) -> Sample:
    """One sample; a session that failed (the shared cluster's API server restarted by other
    tests) is taken again after a pause, at most twice, and noted."""
    for attempt in range(3):
        try:
            return session(work, trivial, *args, env=env)
        except RuntimeError as exc:
            if attempt == 2:
                raise
            bench.note(f"{name}: retried after a failed session: {str(exc)[-200:]}")
            time.sleep(20)
    raise AssertionError("unreachable")


def run(bench: Bench, quick: bool = False) -> None:
    # The cluster's variables stay (`python -m pyodo_tasks.cluster env`); each case sets these.
    chosen = {"PYODO_NAMESPACE", "PYODO_REUSE", "PYODO_TEARDOWN", "PYODO_KEEP", "PYTEST_ADDOPTS"}
    env = {k: v for k, v in os.environ.items() if k not in chosen}
    bench.note(f"load average at start {os.getloadavg()[0]:.1f}")
    with scratch("pytest-wall") as work:
        component = copy_example("nodejs", work)
        samples: dict[str, list[Sample]] = {}
        with namespace() as (reuse_ns, _kube):
            doit_push(component, reuse_ns)
            for _ in range(1 if quick else ROUNDS):
                for name, (trivial, args, ns) in _cases(component, reuse_ns).items():
                    case_env = dict(env, PYODO_NAMESPACE=ns) if ns else env
                    taken = _retried(bench, name, work, trivial, args, case_env)
                    samples.setdefault(name, []).append(taken)
                    print(f"  {name}: wall {taken.wall:.1f} s, first test {taken.first_test:.1f} s")
    results = {name: _median(taken) for name, taken in samples.items()}
    for name, sample in results.items():
        bench.figure(f"{name}: wall", sample.wall)
        bench.figure(f"{name}: first test", sample.first_test)
        bench.raw[name] = [vars(s) for s in samples[name]]
    bench.note(f"load average at end {os.getloadavg()[0]:.1f}")
    print("\n".join(_table(results)), flush=True)
    print("\n".join(_goals(results)), flush=True)
