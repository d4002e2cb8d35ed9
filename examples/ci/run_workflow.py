"""Run a GitHub Actions workflow's ``run:`` steps here, as written, so the CI example is tested.

    python examples/ci/run_workflow.py examples/ci/pyodo-tests.yml \
        --env PYODO_CLUSTER_PROVIDER=local --env PYODO_CACHE_DIR=~/.cache/pyodo

Each ``run:`` step of each job runs in ``bash -eo pipefail`` (GitHub's default shell) from the
repository root, with the workflow's, the job's and the step's ``env``; ``--env`` values win
over them (what differs between GitHub's runner and this host). ``uses:`` steps are what the
runner provides (checkout, Python, Go, cache, artifacts) and are skipped. ``if:`` understands
``always()``, ``env.NAME == 'value'`` (and ``!=``) joined by ``&&``; after a failed step only
``always()`` steps run, as on GitHub. ``${{ github.workspace }}`` is the repository root; any
other expression is an error. Exit status: the first failed step's.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
#: Bound on one step (the workflow's job has timeout-minutes: 30).
STEP_TIMEOUT = 1800
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_ENV_TEST = re.compile(r"^env\.(\w+)\s*(==|!=)\s*'([^']*)'$")


def expand(value: Any) -> str:
    """A workflow string with ``${{ github.workspace }}`` replaced; other expressions refused."""

    def one(match: re.Match[str]) -> str:
        if match.group(1) == "github.workspace":
            return str(ROOT)
        raise SystemExit(f"run_workflow: unsupported expression {match.group(0)}")

    return _EXPR.sub(one, str(value))


def condition(text: str | None, env: Mapping[str, str], failed: bool) -> bool:
    """Whether a step runs: its ``if:`` (``always()``, ``env.X == 'v'``, ``&&``) and the state."""
    if text is None:
        return not failed
    parts = [p.strip() for p in _EXPR.sub(r"\1", str(text)).split("&&")]
    always = "always()" in parts
    if failed and not always:
        return False
    for part in parts:
        if part == "always()":
            continue
        match = _ENV_TEST.match(part)
        if match is None:
            raise SystemExit(f"run_workflow: unsupported condition {part!r}")
        name, op, value = match.groups()
        if (env.get(name, "") == value) != (op == "=="):
            return False
    return True


def run(workflow: Path, overrides: Mapping[str, str]) -> int:
    doc = yaml.safe_load(workflow.read_text())
    status = 0
    for job_name, job in doc["jobs"].items():
        base = {**os.environ, **{k: expand(v) for k, v in (doc.get("env") or {}).items()}}
        base.update({k: expand(v) for k, v in (job.get("env") or {}).items()})
        for number, step in enumerate(job["steps"], 1):
            name = step.get("name") or step.get("uses") or f"step {number}"
            env = {**base, **{k: expand(v) for k, v in (step.get("env") or {}).items()}}
            env.update(overrides)
            if "run" not in step:
                print(f"[{job_name}] skip {name} (provided by the runner)", flush=True)
                continue
            if not condition(step.get("if"), env, failed=status != 0):
                print(f"[{job_name}] skip {name} (if: {step.get('if')})", flush=True)
                continue
            print(f"[{job_name}] run {name}", flush=True)
            started = time.monotonic()
            done = subprocess.run(
                ["bash", "-eo", "pipefail", "-c", expand(step["run"])],
                cwd=ROOT,
                env=env,
                timeout=STEP_TIMEOUT,
                check=False,
            )
            took = time.monotonic() - started
            print(f"[{job_name}] {name}: exit {done.returncode} in {took:.1f}s", flush=True)
            if done.returncode != 0 and status == 0:
                status = done.returncode
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workflow", type=Path)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args(argv)
    overrides = dict(item.split("=", 1) for item in args.env)
    overrides = {k: os.path.expanduser(v) for k, v in overrides.items()}
    return run(args.workflow, overrides)


if __name__ == "__main__":
    sys.exit(main())
