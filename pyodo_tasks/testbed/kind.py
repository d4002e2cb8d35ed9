"""The ``kind`` provider: create or reuse a named kind cluster through the kind CLI.

The kind CLI is installed from the Go module proxy (``go install sigs.k8s.io/kind@<pinned>``)
into ``~/.cache/pyodo/bin`` and runs against a Docker daemon (:mod:`pyodo_tasks.testbed.engine`:
the one that answers, else pyodo's own from Debian's docker.io); both command lines are
:class:`~pyodo_tasks.testbed.kindcli.KindCli`'s.

The node image: ``node_image=`` or ``$PYODO_KIND_IMAGE``; unset means kind's own default
(``kindest/node``, pulled from a registry, which users with one get). The value ``pyodo`` means
the node image built on this machine (:mod:`pyodo_tasks.testbed.kindnode`): it is built or taken
from the cache, loaded into Docker, and the cluster is created with ``disableDefaultCNI`` (that
image brings its own bridge network). Where kind's image cannot be pulled, ``up`` raises a
:class:`ClusterSetupError` that says so and names ``PYODO_KIND_IMAGE=pyodo``.

A new cluster is ready when its cluster DNS is: ``kind create cluster --wait`` waits for the node
only, and a test that resolves a Service name right after ``up`` would otherwise race CoreDNS's
start (its pods are scheduled only once the node is Ready). An existing cluster is reused, unless
it runs an older build of pyodo's node image: then it is deleted and created from the current
one. ``up`` also loads pyodo's images (init, builders) into the node, like the local cluster
imports them at boot; ``down`` deletes the cluster and stops pyodo's dockerd when no kind
cluster is left.
"""

from __future__ import annotations

import re
from pathlib import Path

from pyodo_tasks import host
from pyodo_tasks.cluster.provider import ClusterInfo, ClusterStatus, ImageArchiveLike, Provider
from pyodo_tasks.errors import ClusterError, ClusterSetupError
from pyodo_tasks.testbed import engine as engines
from pyodo_tasks.testbed import paths, settings
from pyodo_tasks.testbed.kindcli import KindCli, ensure_kind

__all__ = [
    "DEFAULT_NAME",
    "DNS_TIMEOUT",
    "IMAGE_ENV",
    "LOCAL_NODE_IMAGE",
    "NODE_ADMIN_CONF",
    "POD_NETWORK_CONFIG",
    "KindProvider",
    "ensure_kind",
    "is_image_pull_failure",
    "node_image_choice",
]

DEFAULT_NAME = "pyodo"
#: Environment variable choosing the node image (``pyodo`` = built here; unset = kind's).
IMAGE_ENV = settings.KIND_IMAGE
#: The ``node_image`` value that selects the node image built on this machine.
LOCAL_NODE_IMAGE = "pyodo"
#: kind config for pyodo's node image: its network is a static bridge config in the image.
POD_NETWORK_CONFIG = """\
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  disableDefaultCNI: true
"""
#: How long a new cluster's CoreDNS may take to become available (its pods are scheduled once
#: the node is Ready).
DNS_TIMEOUT = 120.0
#: The node's admin kubeconfig (kubeadm's), for kubectl inside the node container.
NODE_ADMIN_CONF = "/etc/kubernetes/admin.conf"
_PULL_FAILURES = (
    "failed to pull image",
    "unable to find image",
    "error pulling image",
    "pull access denied",
    "manifest unknown",
)


def is_image_pull_failure(output: str) -> bool:
    """True when kind's output says it could not get its node image."""
    low = output.lower()
    return any(marker in low for marker in _PULL_FAILURES)


def _pulled_image(output: str) -> str:
    """The image kind tried to pull, from its error text (or a generic name)."""
    match = re.search(r'failed to pull image "([^"@]+)', output)
    return match.group(1) if match else "its node image (kindest/node)"


def node_image_choice(explicit: str | None = None) -> str | None:
    """``explicit``, else ``$PYODO_KIND_IMAGE``, else None (kind's default image)."""
    return explicit or settings.kind_image()


def _context(cluster_name: str) -> str:
    """The kubeconfig context kind writes for the cluster ``cluster_name``."""
    return f"kind-{cluster_name}"


class KindProvider(Provider):
    """A kind cluster named ``cluster_name`` (node image: see the module docstring)."""

    name = "kind"

    def __init__(
        self,
        cluster_name: str = DEFAULT_NAME,
        node_image: str | None = None,
        wait: str = "240s",
        load_pyodo_images: bool = True,
    ) -> None:
        self.cluster_name = cluster_name
        self.node_image = node_image_choice(node_image)
        self.wait = wait
        self.load_pyodo_images = load_pyodo_images
        #: The kind and docker command lines, against the engine this provider started or found.
        self.cli = KindCli()

    @property
    def kubeconfig(self) -> Path:
        return paths.cache_root() / "kind" / f"{self.cluster_name}.kubeconfig"

    @property
    def context(self) -> str:
        return _context(self.cluster_name)

    @classmethod
    def planned_context(cls) -> str:
        return _context(DEFAULT_NAME)

    @property
    def node_container(self) -> str:
        """The Docker container of the (single) control-plane node."""
        return f"{self.cluster_name}-control-plane"

    # -- engine and CLI -----------------------------------------------------------------------

    def engine(self) -> engines.Engine:
        """The Docker daemon kind talks to, started if none answers."""
        return self.cli.engine()

    def clusters(self, env: dict[str, str] | None = None) -> list[str]:
        """The kind clusters of the running engine; none when no engine runs (never starts one)."""
        return self.cli.clusters(env)

    # -- node image ---------------------------------------------------------------------------

    def _resolved_node_image(self) -> str | None:
        """The ``--image`` to pass: pyodo's (built, loaded into Docker), another, or None."""
        if self.node_image != LOCAL_NODE_IMAGE:
            return self.node_image
        from pyodo_tasks.testbed.kindnode import ensure_node_image

        image = ensure_node_image()
        if self.cli.docker(["image", "inspect", image.ref], timeout=60).returncode != 0:
            proc = self.cli.docker(["load", "-i", str(image.path)], timeout=900)
            if proc.returncode != 0:
                raise ClusterSetupError(
                    f"docker load -i {image.path} failed: {proc.stderr.strip()[-400:]}"
                )
        return image.ref

    # -- Provider -----------------------------------------------------------------------------

    def up(self) -> ClusterInfo:
        self.engine()
        self.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        present = self.cluster_name in self.clusters()
        if present and self._runs_an_older_node_image():
            proc = self.cli.kind(["delete", "cluster", "--name", self.cluster_name], 300)
            if proc.returncode != 0:
                raise ClusterError(f"kind delete cluster failed: {proc.stderr.strip()[-300:]}")
            present = False
        if not present:
            self._create()
        else:
            proc = self.cli.kind(
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
        if self.load_pyodo_images:
            self._load_pyodo_images()
        return ClusterInfo(
            provider=self.name,
            name=self.cluster_name,
            kubeconfig=self.kubeconfig,
            context=self.context,
        )

    def _runs_an_older_node_image(self) -> bool:
        """True when the cluster's node runs another build of pyodo's node image.

        A kind cluster outlives the node image it was created from; reused after the image's
        recipe changed (CoreDNS added, say), it would test the old node. Only pyodo's image is
        compared: another image is the user's to manage.
        """
        if self.node_image != LOCAL_NODE_IMAGE:
            return False
        from pyodo_tasks.testbed.kindnode import ensure_node_image

        proc = self.cli.docker(["inspect", "-f", "{{.Config.Image}}", self.node_container], 60)
        running = proc.stdout.strip()
        return proc.returncode == 0 and running != ensure_node_image().ref

    def _create(self) -> None:
        image = self._resolved_node_image()
        args = ["create", "cluster", "--name", self.cluster_name]
        args += ["--kubeconfig", str(self.kubeconfig), "--wait", self.wait]
        if image:
            args += ["--image", image]
        if self.node_image == LOCAL_NODE_IMAGE:
            config = self.kubeconfig.with_name(f"{self.cluster_name}-config.yaml")
            config.write_text(POD_NETWORK_CONFIG)
            args += ["--config", str(config)]
        proc = self.cli.kind(args)
        if proc.returncode == 0:
            self._wait_cluster_dns()
            return
        out = proc.stdout + proc.stderr
        if is_image_pull_failure(out):
            raise ClusterSetupError(
                "no kind node image is available on this machine: `kind create cluster` "
                f"could not pull {_pulled_image(out)} (no container registry is reachable). "
                f"Set {IMAGE_ENV}={LOCAL_NODE_IMAGE} to build one here from the Go module "
                "proxy and Debian packages, or load one with `docker load` and pass its ref"
            )
        raise ClusterSetupError(f"kind create cluster failed: {out.strip()[-1500:]}")

    def _node_kubectl(self, args: list[str], timeout: float) -> host.Result:
        """kubectl inside the node container, as kubeadm's admin (every kind node has both)."""
        argv = ["exec", self.node_container, "kubectl", f"--kubeconfig={NODE_ADMIN_CONF}"]
        return self.cli.docker([*argv, *args], timeout=timeout)

    def _wait_cluster_dns(self, timeout: float = DNS_TIMEOUT) -> None:
        """Return once kubeadm's CoreDNS Deployment is available; else delete and raise."""
        proc = self._node_kubectl(
            [
                "-n",
                "kube-system",
                "rollout",
                "status",
                "deployment/coredns",
                f"--timeout={timeout:g}s",
            ],
            timeout=timeout + 30,
        )
        if proc.returncode == 0:
            return
        pods = self._node_kubectl(
            ["-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-dns", "-o", "wide"], 60
        )
        self.cli.kind(["delete", "cluster", "--name", self.cluster_name], 300)
        raise ClusterSetupError(
            f"kind cluster {self.cluster_name}: CoreDNS was not available {timeout:g}s after the "
            f"node was Ready, so the cluster was deleted. rollout status: "
            f"{(proc.stdout + proc.stderr).strip()[-400:]}; pods: {pods.stdout.strip()[-600:]}"
        )

    def _node_images(self) -> set[str]:
        proc = self.cli.docker(
            ["exec", self.node_container, "ctr", "-n", "k8s.io", "images", "list", "-q"],
            timeout=60,
        )
        return set(proc.stdout.split()) if proc.returncode == 0 else set()

    def _load_pyodo_images(self) -> None:
        """Load pyodo's init and builder images into the node unless it has them."""
        from pyodo_tasks.testbed.images import ensure_images

        have = self._node_images()
        for archive in ensure_images().values():
            if archive.ref not in have:
                self.load_image(archive)

    def load_image(self, archive: ImageArchiveLike) -> None:
        proc = self.cli.kind(
            ["load", "image-archive", str(archive.path), "--name", self.cluster_name]
        )
        if proc.returncode != 0:
            raise ClusterError(
                f"kind load image-archive {archive.path} failed: {proc.stderr.strip()[-300:]}"
            )

    def down(self) -> None:
        env = self.cli.query_env()
        if env is None:
            return
        if self.cluster_name in self.clusters(env=env):
            proc = self.cli.kind(["delete", "cluster", "--name", self.cluster_name], 300, env)
            if proc.returncode != 0:
                raise ClusterError(f"kind delete cluster failed: {proc.stderr.strip()[-300:]}")
        self.kubeconfig.unlink(missing_ok=True)
        if engines.engine_running() and not self.clusters(env=env):
            self.cli.stop_engine(env)

    def status(self) -> ClusterStatus:
        env = self.cli.query_env()
        if env is None:
            return ClusterStatus(self.name, False, {"docker": "not running"}, "no Docker daemon")
        try:
            present = self.cluster_name in self.clusters(env=env)
        except (ClusterError, ClusterSetupError) as exc:
            return ClusterStatus(self.name, False, {}, str(exc))
        return ClusterStatus(
            self.name,
            present,
            {"cluster": self.cluster_name, "docker": env.get("DOCKER_HOST", "default socket")},
            "exists" if present else "no such kind cluster",
        )
