"""The pytest plugin: a test session's first deploy, and ``--pyodo-reuse`` of a pushed one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.cluster import copy_example, namespace, scratch
from benchmarks.push import doit_push
from benchmarks.runner import Bench

TEST = """\
import urllib.request

def test_answers(pyodo_endpoint):
    with urllib.request.urlopen(pyodo_endpoint, timeout=10) as response:
        assert response.status == 200
"""


def pytest_run(tests: Path, component: Path, *extra: str, env: dict[str, str]) -> float:
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(tests),
            f"--pyodo-component={component}",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pytest failed: {proc.stdout[-1500:]}{proc.stderr[-500:]}")
    return time.monotonic() - started


def run(bench: Bench, quick: bool = False) -> None:
    with scratch("fixture") as work:
        path = copy_example("nodejs", work)
        tests = work / "test_app.py"
        tests.write_text(TEST)
        env = dict(os.environ)
        env.pop("PYODO_NAMESPACE", None)
        bench.figure(
            "pytest session, first deploy (own namespace)", pytest_run(tests, path, env=env)
        )
        with namespace() as (ns, _kube):
            doit_push(path, ns)
            reuse_env = dict(env, PYODO_NAMESPACE=ns)
            runs = [
                pytest_run(tests, path, "--pyodo-reuse", env=reuse_env)
                for _ in range(2 if quick else 3)
            ]
            bench.latency("pytest session, --pyodo-reuse of a pushed component", runs)
