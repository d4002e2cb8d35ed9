"""pyodo's command lines run as a user runs them: in a subprocess of their own, in a directory,
output captured as text; what the exit status must be is each test's to say.

Shared by the tests that run ``doit`` (or another of pyodo's ``python -m`` entry points) in a
component directory, offline (tests/unit) or against the cluster (tests/cluster).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["doit", "run", "user_environ"]


def user_environ(**extra: str) -> dict[str, str]:
    """This process's environment without the developer's ``PYODO_*`` settings, and ``extra``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYODO_")}
    environ.update(extra)
    return environ


def run(
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = 120,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``args`` in ``cwd`` with ``env`` as the whole environment (default: :func:`user_environ`)."""
    return subprocess.run(
        list(args),
        cwd=cwd,
        env=dict(user_environ() if env is None else env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


def doit(
    cwd: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``doit ARGS`` in the component directory ``cwd``, as :func:`run` runs a command."""
    return run([sys.executable, "-m", "doit", *args], cwd, env, timeout=timeout, check=check)
