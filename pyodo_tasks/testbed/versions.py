"""Pinned versions of everything the local test cluster runs.

One place, so a version bump is one edit and the cache paths (which embed the version) follow.
"""

from __future__ import annotations

#: Kubernetes release built from the Go module proxy (k8s.io/kubernetes module version).
KUBERNETES_VERSION = "v1.36.3"

#: Kubelet, apiserver etc. built from the module: ``cmd/<name>`` inside k8s.io/kubernetes.
KUBE_COMMANDS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kubectl",
    "kube-proxy",
)

#: kind CLI installed with ``go install`` for the ``kind`` provider.
KIND_VERSION = "v0.33.0"

#: Sandbox image containerd uses for every pod; built locally by ``pyodo_tasks.testbed.images``.
SANDBOX_IMAGE = "localhost/pyodo/pause:3.10"


def staging_version(kubernetes_version: str) -> str:
    """Return the published staging-module version matching a Kubernetes release.

    Staging modules (k8s.io/api, k8s.io/client-go, ...) are tagged ``v0.<minor>.<patch>`` for
    Kubernetes ``v1.<minor>.<patch>``.
    """
    major, minor, patch = kubernetes_version.lstrip("v").split(".")[:3]
    if major != "1":
        raise ValueError(f"unexpected Kubernetes version {kubernetes_version!r}")
    return f"v0.{minor}.{patch}"
