"""What a local boot writes before any daemon starts: directories, PKI, configs, kubeconfigs.

Every file lives under the layout's state and config dirs, so ``down`` removes them all; the
daemon logs of the previous boot are kept one generation (``*.log.1``) for a failure report.
"""

from __future__ import annotations

from pyodo_tasks.cluster import kubeconfig
from pyodo_tasks.testbed import clusterdns, configs, manifests
from pyodo_tasks.testbed import pki as pki_mod
from pyodo_tasks.testbed.layout import Layout
from pyodo_tasks.testbed.progress import Progress

#: The kubeconfig context (and cluster name) of the local cluster.
CONTEXT = "pyodo-local"


def prepare_files(lay: Layout, cluster_dns: bool, progress: Progress) -> None:
    """Directories, PKI, the daemons' configs and every kubeconfig (admin, restricted, daemons)."""
    for d in (
        lay.state,
        lay.config_dir,
        lay.logs,
        lay.pids,
        lay.etcd_data,
        lay.kubelet_root,
        lay.cni_conf_dir,
        lay.cni_ipam_dir,
        lay.containerd_root,
        lay.containerd_socket.parent,
    ):
        d.mkdir(parents=True, exist_ok=True)
    lay.etcd_data.chmod(0o700)
    for log in lay.logs.glob("*.log"):  # keep the previous boot's logs, one generation
        log.replace(log.with_suffix(".log.1"))
    progress("generating PKI and kubeconfigs")
    pki_mod.generate(lay.pki, lay.node_name, lay.net.node_ip, lay.net.api_service_ip)
    (lay.config_dir / "containerd.toml").write_text(configs.containerd_toml(lay))
    (lay.cni_conf_dir / "10-pyodo.conflist").write_text(configs.cni_conflist(lay))
    dns_ip = clusterdns.LOCAL_DNS_IP if cluster_dns else None
    (lay.config_dir / "kubelet.yaml").write_text(configs.kubelet_config(lay, dns_ip))
    (lay.config_dir / "kube-proxy.yaml").write_text(configs.kube_proxy_config(lay))
    ca = (lay.pki / "ca.crt").read_bytes()
    users = {
        "controller-manager": ("controller-manager", "system:kube-controller-manager"),
        "scheduler": ("scheduler", "system:kube-scheduler"),
        "kube-proxy": ("kube-proxy", "system:kube-proxy"),
        "kubelet": ("kubelet-client", f"system:node:{lay.node_name}"),
    }
    for component, (cert, user) in users.items():
        kubeconfig.write(lay.kubeconfig_for(component), _render_kc(lay, ca, cert, user))
    kubeconfig.write(lay.admin_kubeconfig, _render_kc(lay, ca, "admin", "pyodo-admin"))
    restricted = kubeconfig.render(
        CONTEXT,
        lay.server_url,
        ca,
        manifests.RESTRICTED_USER,
        (lay.pki / "restricted.crt").read_bytes(),
        (lay.pki / "restricted.key").read_bytes(),
    )
    kubeconfig.write(
        lay.restricted_kubeconfig, _with_namespace(restricted, manifests.RESTRICTED_NAMESPACE)
    )


def _render_kc(lay: Layout, ca: bytes, cert: str, user: str) -> str:
    return kubeconfig.render(
        CONTEXT,
        lay.server_url,
        ca,
        user,
        (lay.pki / f"{cert}.crt").read_bytes(),
        (lay.pki / f"{cert}.key").read_bytes(),
    )


def _with_namespace(kubeconfig_text: str, namespace: str) -> str:
    import yaml

    doc = yaml.safe_load(kubeconfig_text)
    for ctx in doc["contexts"]:
        ctx["context"]["namespace"] = namespace
    return yaml.safe_dump(doc, sort_keys=False)
