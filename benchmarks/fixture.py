"""The pytest plugin: a test session's first deploy, and ``--pyodo-reuse`` of a pushed one."""

from __future__ import annotations

import os
import time
from pathlib import Path

from benchmarks.cluster import copy_example, doit_push, namespace, run_pytest, scratch
from benchmarks.runner import Bench

TEST = """\
import urllib.request

def test_answers(pyodo_endpoint):
    with urllib.request.urlopen(pyodo_endpoint, timeout=10) as response:
        assert response.status == 200
"""


def pytest_run(tests: Path, component: Path, *extra: str, env: dict[str, str]) -> float:
    started = time.monotonic()
    run_pytest(tests, f"--pyodo-component={component}", *extra, env=env)
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
