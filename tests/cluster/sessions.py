"""Whole pytest sessions run as subprocesses against the real cluster, and what they left.

Shared by the cluster tests of the plugin (test_plugin_real.py, test_teardown_real.py,
test_devfiles_real.py): a session's usual arguments (:func:`session_args`), the session run to
its end (:func:`run_pytest`) or stopped once it wrote a stamp file (:func:`stopped_session`),
its run id, and the objects still labelled with it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pyodo_tasks.cluster import ClusterInfo
from pyodo_tasks.core.gc import RUN_ID_LABEL, run_labels
from pyodo_tasks.core.kube import Kube, Target
from pytest_pyodo.settings import SETTINGS
from tests import commands

ROOT = Path(__file__).parents[2]
NODEJS = ROOT / "examples" / "nodejs"
DEMO = ROOT / "examples" / "pytest_demo"
#: Bound on one whole pytest session (boot check, deploy, tests, namespace deletion).
SESSION_TIMEOUT = 600
MANAGED = "app.kubernetes.io/managed-by=pyodo"


def clean_env(*also: str) -> dict[str, str]:
    """This process's environment without the developer's pyodo settings, nor ``also``."""
    dropped = {s.env for s in SETTINGS} | set(also)
    return {k: v for k, v in os.environ.items() if k not in dropped}


def dev_namespace(cluster_info: ClusterInfo, prefix: str) -> tuple[str, Kube, dict[str, str]]:
    """A new labelled namespace for a ``doit dev`` subprocess (collected by ``doit gc`` if the
    test dies), a connection to it, and the subprocess's environment: the cluster's kubeconfig,
    none of the developer's target settings."""
    namespace = f"{prefix}-{uuid.uuid4().hex[:6]}"
    kube = Kube(Target(kubeconfig=str(cluster_info.kubeconfig), namespace=namespace))
    kube.ensure_namespace(namespace, run_labels(f"{prefix}-{namespace}", 3600))
    env = dict(os.environ, KUBECONFIG=str(cluster_info.kubeconfig))
    for var in ("PYODO_NAMESPACE", "PYODO_CONTEXT", "PYODO_KUBECONFIG"):
        env.pop(var, None)
    return namespace, kube, env


def run_pytest(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """One pytest session in a subprocess, with none of the developer's pyodo settings."""
    env = clean_env("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")
    started = time.monotonic()
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    proc = commands.run(argv, cwd, env, timeout=SESSION_TIMEOUT)
    print(f"pytest {' '.join(args)}: exit {proc.returncode} in {time.monotonic() - started:.1f}s")
    print(proc.stdout[-6000:], proc.stderr[-3000:], sep="\n")
    return proc


def kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL to the session's process group: no teardown, no atexit."""
    os.killpg(proc.pid, signal.SIGKILL)


def stopped_session(
    args: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stamp: Path,
    never: str,
    stop: Callable[[subprocess.Popen[str]], None],
    poll: float,
    timeout: float,
    **popen: Any,
) -> tuple[subprocess.Popen[str], str]:
    """Start a pytest session (output merged), wait up to 300 s for it to write ``stamp``
    (``never``: the failure's message), ``stop`` it and return it and its output."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,
    )
    try:
        deadline = time.monotonic() + 300
        while not stamp.exists():
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, never
            time.sleep(poll)
        stop(proc)
        output, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc, output


def run_id_of(output: str) -> str:
    match = re.search(r"^pyodo: run (\w+), namespace", output, re.MULTILINE)
    assert match is not None, "the report header names the run"
    return match.group(1)


def leftovers(kube: Kube, run_id: str, namespaces: tuple[str, ...] = ()) -> list[str]:
    """Namespaces and objects still labelled with ``run_id`` (pods included).

    A ``Terminating`` namespace is not left over: its deletion was asked for and the namespace
    controller finishes it (a session does not wait for that: ``--pyodo-teardown``).
    """
    selector = f"{RUN_ID_LABEL}={run_id}"
    left = [
        f"Namespace/{ns.metadata.name}"
        for ns in kube.namespaces(MANAGED)
        if (ns.metadata.labels or {}).get(RUN_ID_LABEL) == run_id
        and (ns.status is None or ns.status.phase != "Terminating")
    ]
    for namespace in namespaces:
        left += [
            f"{o['kind']}/{o['metadata']['name']}" for o in kube.list_labelled(selector, namespace)
        ]
    return left


def kubeconfig_args(cluster_info: ClusterInfo) -> list[str]:
    return ["--pyodo-cluster=kubeconfig", f"--pyodo-kubeconfig={cluster_info.kubeconfig}"]


def session_args(
    cluster_info: ClusterInfo, tests: Path = DEMO, component: Path | str = NODEJS
) -> list[str]:
    """What most sessions are given: ``tests`` (a directory or file), the ``component`` they
    test and the cluster, through its admin kubeconfig."""
    return [str(tests), f"--pyodo-component={component}", *kubeconfig_args(cluster_info)]
