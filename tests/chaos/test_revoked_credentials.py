"""Credentials revoked in the middle of a ``doit dev`` session, and a ``doit push`` after.

The session runs on a kubeconfig of its own: a ServiceAccount's token, bound to the namespace's
``admin`` role. Deleting the ServiceAccount revokes the token at once (the API server looks the
account up for every request). The loop must keep running and say, in one line, that the
credentials in that kubeconfig were refused; ``doit push`` must fail with that one line.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s

from tests.chaos.workbench import Workbench
from tests.cluster.test_dev_real import running

pytestmark = [pytest.mark.chaos, pytest.mark.cluster]

ACCOUNT = "chaos-developer"
START_TIMEOUT = 180.0
#: Bound on the loop saying the credentials were refused after an edit.
REPORT_TIMEOUT = 60.0


def token_kubeconfig(bench: Workbench, dest: Path) -> Path:
    """A kubeconfig for a new ServiceAccount of the namespace, with its ``admin`` role."""
    core = bench.kube.core
    core.create_namespaced_service_account(
        bench.namespace, k8s.V1ServiceAccount(metadata=k8s.V1ObjectMeta(name=ACCOUNT))
    )
    k8s.RbacAuthorizationV1Api(bench.kube.api).create_namespaced_role_binding(
        bench.namespace,
        k8s.V1RoleBinding(
            metadata=k8s.V1ObjectMeta(name=ACCOUNT),
            role_ref=k8s.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="admin"
            ),
            subjects=[
                k8s.RbacV1Subject(kind="ServiceAccount", name=ACCOUNT, namespace=bench.namespace)
            ],
        ),
    )
    token = core.create_namespaced_service_account_token(
        ACCOUNT,
        bench.namespace,
        k8s.AuthenticationV1TokenRequest(
            spec=k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
        ),
    ).status.token
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

    bench.kube.core.delete_namespaced_service_account(ACCOUNT, bench.namespace)
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
