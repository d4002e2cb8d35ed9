"""The concrete file layout and network plan of one local cluster.

Every other module takes a :class:`Layout` instead of computing paths, so tests can render
configs into a temporary directory and ``down`` knows exactly which directories are its own.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from pyodo_tasks.testbed import paths
from pyodo_tasks.testbed.versions import KUBERNETES_VERSION, SANDBOX_IMAGE

#: The only address the cluster's daemons listen on.
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Network:
    """Address plan. Pod and service ranges avoid the host's 192.0.2.0/24.

    Every daemon listens on :data:`LOOPBACK` only; the node's address (:attr:`node_ip`) is the
    pod bridge's gateway, which only pods and this host reach (see :mod:`.hostnet`).
    """

    pod_cidr: str = "10.244.0.0/24"
    service_cidr: str = "10.96.0.0/24"
    #: First address of the service range: the ``kubernetes`` Service ClusterIP.
    api_service_ip: str = "10.96.0.1"
    api_port: int = 6443
    etcd_client_port: int = 2379
    etcd_peer_port: int = 2380
    kubelet_port: int = 10250
    kubelet_healthz_port: int = 10248
    proxy_healthz_port: int = 10256
    proxy_metrics_port: int = 10249
    #: Linux bridge the CNI bridge plugin creates; not ``cni0`` so it never clashes.
    bridge: str = "pyodo0"

    @property
    def node_ip(self) -> str:
        """The node's InternalIP and the apiserver's advertised address: the pod bridge's
        gateway (first address of the pod range), not the host's LAN address.

        Why not 127.0.0.1: the kubelet refuses a loopback node IP and the ``kubernetes``
        Service's Endpoints refuse a loopback address; the bridge's is neither, and exists
        without a network (no default route needed).
        """
        return str(next(ipaddress.ip_network(self.pod_cidr).hosts()))

    @property
    def bridge_address(self) -> str:
        """The bridge's address with the pod range's prefix, as the CNI bridge plugin sets it."""
        return f"{self.node_ip}/{ipaddress.ip_network(self.pod_cidr).prefixlen}"


@dataclass(frozen=True)
class Layout:
    """Paths of one cluster: ``state`` is removed by ``down``, ``cache`` survives it."""

    state: Path = field(default_factory=paths.state_root)
    run: Path = field(default_factory=paths.run_root)
    cache: Path = field(default_factory=paths.cache_root)
    version: str = KUBERNETES_VERSION
    node_name: str = "pyodo-node"
    sandbox_image: str = SANDBOX_IMAGE
    net: Network = field(default_factory=Network)

    @property
    def bin_dir(self) -> Path:
        return self.cache / "kubernetes" / self.version / "bin"

    @property
    def pki(self) -> Path:
        return self.state / "pki"

    @property
    def config_dir(self) -> Path:
        return self.state / "config"

    @property
    def logs(self) -> Path:
        """Daemon logs: beside ``state``, not in it, so they outlive the ``down`` that a failed
        ``up`` runs and the error that names them can still be read."""
        return self.state.with_name(self.state.name + "-logs")

    @property
    def pids(self) -> Path:
        return self.state / "pids"

    @property
    def etcd_data(self) -> Path:
        return self.state / "etcd"

    @property
    def kubelet_root(self) -> Path:
        return self.state / "kubelet"

    @property
    def cni_conf_dir(self) -> Path:
        return self.state / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.state / "cni" / "ipam"

    @property
    def cni_bin_dir(self) -> Path:
        return Path("/usr/lib/cni")

    @property
    def containerd_root(self) -> Path:
        """Content store and snapshots: in the cache so imported images survive ``down``."""
        return self.cache / "containerd" / "root"

    @property
    def cluster_run(self) -> Path:
        """The cluster's part of ``run`` (socket, state, runc root, netns mounts); other pyodo
        parts (the kind provider's dockerd) keep their own dirs beside it."""
        return self.run / "containerd"

    @property
    def containerd_state(self) -> Path:
        return self.cluster_run / "state"

    @property
    def containerd_socket(self) -> Path:
        return self.cluster_run / "containerd.sock"

    @property
    def host_snapshot(self) -> Path:
        """Host state before the first ``up`` (sysctls, chains); ``down`` restores it.

        Kept outside ``state`` so a re-``up`` after a killed run never overwrites the originals.
        """
        return self.state.with_name(self.state.name + "-host.json")

    @property
    def admin_kubeconfig(self) -> Path:
        return self.state / "admin.kubeconfig"

    @property
    def restricted_kubeconfig(self) -> Path:
        return self.state / "restricted.kubeconfig"

    def kubeconfig_for(self, component: str) -> Path:
        return self.config_dir / f"{component}.kubeconfig"

    @property
    def server_url(self) -> str:
        return f"https://{LOOPBACK}:{self.net.api_port}"

    @property
    def own_dirs(self) -> tuple[Path, ...]:
        """Directories whose mounts and files belong to this cluster alone."""
        return (self.state, self.cluster_run)
