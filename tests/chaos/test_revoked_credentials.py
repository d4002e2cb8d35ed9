"""Credentials revoked in the middle of a ``doit dev`` session, and a ``doit push`` after.

The session runs on a kubeconfig of its own: a ServiceAccount's token, bound to the namespace's
``admin`` role. Deleting the ServiceAccount revokes the token at once (the API server looks the
account up for every request). The loop must keep running and say, in one line, that the
credentials in that kubeconfig were refused; ``doit push`` must fail with that one line.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from tests.chaos.workbench import Workbench
from tests.cluster.test_dev_real import running

pytestmark = [pytest.mark.chaos, pytest.mark.cluster]

ACCOUNT = "chaos-developer"
START_TIMEOUT = 180.0
#: Bound on the loop saying the credentials were refused after an edit.
REPORT_TIMEOUT = 60.0


def kubectl(bench: Workbench, *args: str) -> str:
    """``kubectl`` as the cluster's admin, in the case's namespace (its one use of kubectl:
    Kube manages only pyodo's kinds, and a ServiceAccount is none of them)."""
    found = shutil.which("kubectl")
    if found is None:
        pytest.skip('no kubectl on PATH (eval "$(python -m pyodo_tasks.cluster env)")')
    proc = subprocess.run(
        [found, "--kubeconfig", str(bench.kubeconfig), "-n", bench.namespace, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return proc.stdout


def token_kubeconfig(bench: Workbench, dest: Path) -> Path:
    """A kubeconfig for a new ServiceAccount of the namespace, with its ``admin`` role."""
    kubectl(bench, "create", "serviceaccount", ACCOUNT)
    kubectl(
        bench,
        "create",
        "rolebinding",
        ACCOUNT,
        "--clusterrole=admin",
        f"--serviceaccount={bench.namespace}:{ACCOUNT}",
    )
    token = kubectl(bench, "create", "token", ACCOUNT, "--duration=1h").strip()
    admin = yaml.safe_load(bench.kubeconfig.read_text())
    context = next(c for c in admin["contexts"] if c["name"] == admin["current-context"])
    cluster = next(c for c in admin["clusters"] if c["name"] == context["context"]["cluster"])
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": ACCOUNT, "user": {"token": token}}],
        "contexts": [
            {"name": "developer", "context": {"cluster": cluster["name"], "user": ACCOUNT}}
        ],
        "current-context": "developer",
    }
    dest.write_text(yaml.safe_dump(config))
    return dest


def test_revoked_credentials_are_one_line_naming_the_kubeconfig(bench: Workbench) -> None:
    kubeconfig = token_kubeconfig(bench, bench.path.parent / "developer.kubeconfig")
    developer = replace(bench, kubeconfig=kubeconfig, started=bench.started)
    dev = developer.dev()
    dev.wait_status("RunCommandRunning", running, START_TIMEOUT)

    kubectl(bench, "delete", "serviceaccount", ACCOUNT, "--wait=false")
    source = bench.path / "greeting.js"
    source.write_text(source.read_text().replace("pyodo (Node.js)", "pyodo (Node.js), revoked"))
    refused = f"the credentials in {kubeconfig} were refused"
    deadline = time.monotonic() + REPORT_TIMEOUT
    while refused not in dev.log_tail(400):
        assert dev.proc.poll() is None, f"doit dev ended:\n{dev.log_tail()}"
        assert time.monotonic() < deadline, f"no line naming the kubeconfig:\n{dev.log_tail()}"
        time.sleep(0.5)
    said = dev.log_tail(400)
    assert "401" in said and "Traceback" not in said, said
    revoked_after = time.monotonic() - (deadline - REPORT_TIMEOUT)
    print(f"doit dev said it {revoked_after:.1f}s after the revocation:")
    print(next(line for line in said.splitlines() if refused in line))

    pushed = developer.doit("push", check=False)
    lines = [
        line for line in (pushed.stdout + pushed.stderr).splitlines() if line.startswith("pyodo")
    ]
    assert pushed.returncode == 1 and len(lines) == 1, pushed.stdout + pushed.stderr
    assert refused in lines[0] and "401" in lines[0], lines
    print(f"doit push said: {lines[0]}")
    bench.stop_all()
    assert "Traceback" not in dev.log_tail(400)
    bench.assert_nothing_left()
