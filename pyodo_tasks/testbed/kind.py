"""The ``kind`` provider: create or reuse a named kind cluster through the kind CLI.

The kind CLI is installed from the Go module proxy (``go install sigs.k8s.io/kind@<pinned>``)
into ``~/.cache/pyodo/bin``. kind runs its node as a container from the ``kindest/node`` image,
which must be pulled from a registry; where none is reachable (these machines) ``up`` raises a
:class:`ClusterSetupError` that says exactly that and how to provide the image.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from pyodo_tasks.cluster.provider import ClusterInfo, ClusterStatus, ImageArchiveLike, Provider
from pyodo_tasks.errors import ClusterError, ClusterSetupError
from pyodo_tasks.testbed import paths
from pyodo_tasks.testbed.versions import KIND_VERSION

DEFAULT_NAME = "pyodo"
_PULL_FAILURES = (
    "failed to pull image",
    "unable to find image",
    "error pulling image",
    "pull access denied",
    "manifest unknown",
)


def ensure_kind(version: str = KIND_VERSION) -> Path:
    """Install the kind CLI at ``version`` (cached; a version stamp avoids reinstalling)."""
    bin_dir = paths.tool_bin_dir()
    binary, stamp = bin_dir / "kind", bin_dir / ".kind-version"
    if binary.is_file() and stamp.is_file() and stamp.read_text().strip() == version:
        return binary
    bin_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GOBIN=str(bin_dir), CGO_ENABLED="0")
    try:
        proc = subprocess.run(
            ["go", "install", f"sigs.k8s.io/kind@{version}"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=1200,
        )
    except FileNotFoundError as exc:
        raise ClusterSetupError("the `go` command is needed to install kind; install Go") from exc
    if proc.returncode != 0 or not binary.is_file():
        raise ClusterSetupError(
            f"go install sigs.k8s.io/kind@{version} failed: {proc.stderr.strip()[-500:]}"
        )
    stamp.write_text(version)
    return binary


def is_image_pull_failure(output: str) -> bool:
    """True when kind's output says it could not get its node image."""
    low = output.lower()
    return any(marker in low for marker in _PULL_FAILURES)


def _pulled_image(output: str) -> str:
    """The image kind tried to pull, from its error text (or a generic name)."""
    match = re.search(r'failed to pull image "([^"@]+)', output)
    return match.group(1) if match else "its node image (kindest/node)"


class KindProvider(Provider):
    """A kind cluster named ``cluster_name`` (node image: kind's default or ``node_image``)."""

    name = "kind"

    def __init__(
        self, cluster_name: str = DEFAULT_NAME, node_image: str | None = None, wait: str = "180s"
    ) -> None:
        self.cluster_name = cluster_name
        self.node_image = node_image
        self.wait = wait

    @property
    def kubeconfig(self) -> Path:
        return paths.cache_root() / "kind" / f"{self.cluster_name}.kubeconfig"

    @property
    def context(self) -> str:
        return f"kind-{self.cluster_name}"

    def _kind(self, args: list[str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
        binary = ensure_kind()
        try:
            return subprocess.run(
                [str(binary), *args], capture_output=True, text=True, check=False, timeout=timeout
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterSetupError(
                f"kind {' '.join(args)} did not finish in {timeout:g}s"
            ) from exc

    def _require_docker(self) -> None:
        if shutil.which("docker") is None:
            raise ClusterSetupError(
                "kind needs a container engine: install docker.io (apt-get install docker.io)"
            )
        proc = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if proc.returncode != 0:
            raise ClusterSetupError(
                "kind needs a running Docker daemon and `docker info` failed; start dockerd "
                f"({proc.stderr.strip()[-200:]})"
            )

    def clusters(self) -> list[str]:
        proc = self._kind(["get", "clusters"], timeout=60)
        if proc.returncode != 0:
            raise ClusterError(f"kind get clusters failed: {proc.stderr.strip()[-300:]}")
        return [line.strip() for line in proc.stdout.splitlines() if line.strip()]

    def up(self) -> ClusterInfo:
        self._require_docker()
        self.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        if self.cluster_name not in self.clusters():
            args = [
                "create",
                "cluster",
                "--name",
                self.cluster_name,
                "--kubeconfig",
                str(self.kubeconfig),
                "--wait",
                self.wait,
            ]
            if self.node_image:
                args += ["--image", self.node_image]
            proc = self._kind(args)
            if proc.returncode != 0:
                out = proc.stdout + proc.stderr
                if is_image_pull_failure(out):
                    raise ClusterSetupError(
                        "no kind node image is available on this machine: `kind create cluster` "
                        f"could not pull {_pulled_image(out)} (no container registry is "
                        "reachable). "
                        "Provide one with `docker load -i kindest-node.tar` (saved with "
                        "`docker save kindest/node:<tag>` on a machine with registry access) or "
                        "build one with `kind build node-image`, then pass node_image=<ref>"
                    )
                raise ClusterSetupError(f"kind create cluster failed: {out.strip()[-500:]}")
        else:
            proc = self._kind(
                [
                    "export",
                    "kubeconfig",
                    "--name",
                    self.cluster_name,
                    "--kubeconfig",
                    str(self.kubeconfig),
                ],
                timeout=60,
            )
            if proc.returncode != 0:
                raise ClusterSetupError(f"kind export kubeconfig failed: {proc.stderr[-300:]}")
        return ClusterInfo(
            provider=self.name,
            name=self.cluster_name,
            kubeconfig=self.kubeconfig,
            context=self.context,
        )

    def load_image(self, archive: ImageArchiveLike) -> None:
        proc = self._kind(["load", "image-archive", str(archive.path), "--name", self.cluster_name])
        if proc.returncode != 0:
            raise ClusterError(
                f"kind load image-archive {archive.path} failed: {proc.stderr.strip()[-300:]}"
            )

    def down(self) -> None:
        if shutil.which("docker") is None:
            return
        proc = self._kind(["delete", "cluster", "--name", self.cluster_name], timeout=300)
        if proc.returncode != 0:
            raise ClusterError(f"kind delete cluster failed: {proc.stderr.strip()[-300:]}")
        self.kubeconfig.unlink(missing_ok=True)

    def status(self) -> ClusterStatus:
        try:
            present = self.cluster_name in self.clusters()
        except (ClusterError, ClusterSetupError) as exc:
            return ClusterStatus(self.name, False, {}, str(exc))
        return ClusterStatus(
            self.name,
            present,
            {"cluster": self.cluster_name},
            "exists" if present else "no such kind cluster",
        )
