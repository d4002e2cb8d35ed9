"""Command lines of the cluster's daemons, as pure functions of a :class:`Layout`.

Order matters and is the order of :func:`daemons`: etcd, containerd, then the control plane,
then the node agents. ``down`` stops them in reverse.
"""

from __future__ import annotations

from pyodo_tasks.testbed.layout import LOOPBACK, Layout
from pyodo_tasks.testbed.procs import Daemon


def _d(layout: Layout, name: str, argv: list[str]) -> Daemon:
    return Daemon(name, argv, layout.pids, layout.logs)


def etcd(layout: Layout) -> Daemon:
    """etcd on loopback only (plain HTTP is acceptable there for a throwaway dev cluster)."""
    net = layout.net
    client = f"http://127.0.0.1:{net.etcd_client_port}"
    peer = f"http://127.0.0.1:{net.etcd_peer_port}"
    return _d(
        layout,
        "etcd",
        [
            "/usr/bin/etcd",
            "--name=pyodo",
            f"--data-dir={layout.etcd_data}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=pyodo={peer}",
            "--initial-cluster-state=new",
            "--listen-metrics-urls=",
            "--quota-backend-bytes=2147483648",
            "--snapshot-count=10000",
            "--log-level=warn",
            "--logger=zap",
        ],
    )


def containerd(layout: Layout) -> Daemon:
    return _d(
        layout,
        "containerd",
        [
            "/usr/bin/containerd",
            "--config",
            str(layout.config_dir / "containerd.toml"),
        ],
    )


def kube_apiserver(layout: Layout) -> Daemon:
    """Listens on loopback only; advertises the node address (the pod bridge's), which pods
    reach through :mod:`.hostnet`'s NAT (Endpoints refuse a loopback address)."""
    pki, net = layout.pki, layout.net
    return _d(
        layout,
        "kube-apiserver",
        [
            str(layout.bin_dir / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{net.etcd_client_port}",
            f"--bind-address={LOOPBACK}",
            f"--secure-port={net.api_port}",
            f"--advertise-address={net.node_ip}",
            f"--service-cluster-ip-range={net.service_cidr}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={pki / 'ca.crt'}",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true",
            "--profiling=false",
            f"--cert-dir={pki}",
            "--v=1",
        ],
    )


def _control_kubeconfig_args(layout: Layout, component: str) -> list[str]:
    kc = str(layout.kubeconfig_for(component))
    return [
        f"--kubeconfig={kc}",
        f"--authentication-kubeconfig={kc}",
        f"--authorization-kubeconfig={kc}",
        f"--bind-address={LOOPBACK}",
        "--leader-elect=false",
        "--profiling=false",
        "--v=1",
    ]


def kube_controller_manager(layout: Layout) -> Daemon:
    """Includes the in-tree hostpath provisioner so PVCs bind on this single node."""
    pki = layout.pki
    return _d(
        layout,
        "kube-controller-manager",
        [
            str(layout.bin_dir / "kube-controller-manager"),
            *_control_kubeconfig_args(layout, "controller-manager"),
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            "--use-service-account-credentials=true",
            f"--service-cluster-ip-range={layout.net.service_cidr}",
            "--allocate-node-cidrs=false",
            "--enable-hostpath-provisioner=true",
            "--controllers=*",
        ],
    )


def kube_scheduler(layout: Layout) -> Daemon:
    return _d(
        layout,
        "kube-scheduler",
        [
            str(layout.bin_dir / "kube-scheduler"),
            *_control_kubeconfig_args(layout, "scheduler"),
        ],
    )


def kubelet(layout: Layout) -> Daemon:
    """Its node IP is the pod bridge's address (a loopback one is refused); it listens on
    loopback (``kubelet.yaml``), where :mod:`.hostnet` sends the apiserver's connections."""
    return _d(
        layout,
        "kubelet",
        [
            str(layout.bin_dir / "kubelet"),
            f"--config={layout.config_dir / 'kubelet.yaml'}",
            f"--kubeconfig={layout.kubeconfig_for('kubelet')}",
            f"--root-dir={layout.kubelet_root}",
            f"--cert-dir={layout.pki}",
            f"--hostname-override={layout.node_name}",
            f"--node-ip={layout.net.node_ip}",
            "--v=1",
        ],
    )


def kube_proxy(layout: Layout) -> Daemon:
    return _d(
        layout,
        "kube-proxy",
        [
            str(layout.bin_dir / "kube-proxy"),
            f"--config={layout.config_dir / 'kube-proxy.yaml'}",
            "--v=1",
        ],
    )


def daemons(layout: Layout) -> list[Daemon]:
    """All daemons in start order."""
    return [
        etcd(layout),
        containerd(layout),
        kube_apiserver(layout),
        kube_controller_manager(layout),
        kube_scheduler(layout),
        kubelet(layout),
        kube_proxy(layout),
    ]
