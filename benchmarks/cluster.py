"""Shared helpers of the cluster benchmarks: a scratch namespace, a generated component."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from pyodo_tasks import host
from pyodo_tasks.core.gc import run_labels
from pyodo_tasks.core.kube import Kube, Target

ROOT = Path(__file__).resolve().parent.parent
PY_DEVFILE = """\
schemaVersion: 2.2.0
metadata: {name: %(name)s}
components:
  - name: py
    container:
      image: localhost/pyodo/builder-python:bookworm-debugpy
      endpoints: [{name: http, targetPort: 8080}]
commands:
  - id: run
    exec: {component: py, commandLine: python3 -m http.server 8080, group: {kind: run}}
"""
_WORDS = tuple(
    [
        "def",
        "return",
        "import",
        "class",
        "self",
        "value",
        "index",
        "sync",
        "pod",
        "file",
        "tree",
        "name",
        "data",
        "for",
        "in",
        "if",
        "else",
        "while",
        "try",
        "except",
        "yield",
        "lambda",
        "print",
        "none",
        "true",
        "false",
        "async",
        "await",
        "with",
        "from",
        "as",
        "pass",
    ]
)


@contextmanager
def namespace(prefix: str = "pyodo-bench") -> Iterator[tuple[str, Kube]]:
    """A namespace of our own (labelled for ``doit gc``), deleted afterwards."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    kube = Kube(Target(namespace=name))
    kube.ensure_namespace(name, run_labels("bench", 3600))
    try:
        yield name, kube
    finally:
        kube.delete_namespace(name)
        kube.close()


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    work = Path(tempfile.mkdtemp(prefix=f"pyodo-bench-{prefix}-"))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def text_tree(root: Path, files: int, kib: int, seed: int = 11) -> int:
    """``files`` source-like text files of about ``kib`` KiB, 50 per directory; total bytes."""
    rng = random.Random(seed)
    total = 0
    for i in range(files):
        sub = root / f"pkg{i // 500:03d}" / f"m{(i // 50) % 10}"
        if i % 50 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        words: list[str] = []
        size = 0
        while size < kib * 1024:
            line = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 12))) + "\n"
            words.append(line)
            size += len(line)
        data = "".join(words).encode()
        (sub / f"f{i:06d}.py").write_bytes(data)
        total += len(data)
    return total


def copy_example(name: str, dest: Path) -> Path:
    path = dest / name
    shutil.copytree(ROOT / "examples" / name, path, ignore=shutil.ignore_patterns(".pyodo"))
    return path


def doit_push(path: Path, ns: str, layout: str | None = None) -> float:
    """Seconds one ``doit push --namespace ns`` in ``path`` took (``layout``: as
    ``PYODO_LAYOUT``); a failing push raises (host.HostCommandError) with its output's tail."""
    started = time.monotonic()
    host.run(
        [sys.executable, "-m", "doit", "push", "--namespace", ns],
        timeout=600,
        what="doit push" if layout is None else f"doit push ({layout})",
        cwd=path,
        env=None if layout is None else {"PYODO_LAYOUT": layout},
    )
    return time.monotonic() - started


def run_pytest(target: Path, *args: str, env: Mapping[str, str], cwd: Path | None = None) -> None:
    """``python -m pytest -q`` on ``target`` (the benchmarks' own test files) with ``args``;
    a failing run raises with the tail of its output, since its timing would mean nothing."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(target), *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env=dict(env),
        cwd=cwd,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pytest failed: {proc.stdout[-1500:]}{proc.stderr[-500:]}")


def kubectl_env(namespace: str) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("PYODO_NAMESPACE",):
        env.pop(var, None)
    env["PYODO_NAMESPACE"] = namespace
    return env


def kubectl_cp(
    namespace: str, src: Path, pod: str, container: str, dest: str, timeout: float = 600
) -> float:
    """Seconds for ``kubectl cp`` of ``src`` to ``pod:dest`` (a fresh destination)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise RuntimeError("kubectl is not on PATH")
    cmd = [kubectl, "-n", namespace, "cp", str(src), f"{pod}:{dest}", "-c", container]
    started = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, timeout=timeout)
    return time.perf_counter() - started
