"""Render the config files of the local cluster: containerd, CNI, kubelet, kube-proxy.

Pure functions from a :class:`Layout` to text, so they are unit-tested without a cluster.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from pyodo_tasks.testbed.layout import LOOPBACK, Layout


def has_cap_sys_resource(status_text: str | None = None) -> bool:
    """True when this process may lower ``oom_score_adj`` (CAP_SYS_RESOURCE is effective).

    Some VM sandboxes drop CAP_SYS_RESOURCE even for root; runc then dies with "can't get
    final child's PID from pipe: EOF" when CRI asks for the sandbox's -998.
    """
    if status_text is None:
        try:
            status_text = Path("/proc/self/status").read_text()
        except OSError:
            return True
    for line in status_text.splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) & (1 << _CAP_SYS_RESOURCE))
    return True


_CAP_SYS_RESOURCE = 24


def containerd_toml(layout: Layout, restrict_oom_score_adj: bool | None = None) -> str:
    """containerd 1.6 config (version 2 schema) with its own root, state and socket.

    Own paths so it never clashes with a containerd or dockerd already on the machine; netns
    mounts under the state dir so ``down`` finds and removes exactly ours.
    ``restrict_oom_score_adj`` (default: when CAP_SYS_RESOURCE is missing) keeps every
    container's OOM score at or above containerd's own instead of failing to lower it.
    """
    if restrict_oom_score_adj is None:
        restrict_oom_score_adj = not has_cap_sys_resource()
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    sock = layout.containerd_socket
    return "\n".join(
        [
            "version = 2",
            f'root = "{layout.containerd_root}"',
            f'state = "{layout.containerd_state}"',
            "",
            "[grpc]",
            f'  address = "{sock}"',
            "[ttrpc]",
            f'  address = "{sock}.ttrpc"',
            "[debug]",
            '  address = ""',
            "[metrics]",
            '  address = ""',
            "",
            '[plugins."io.containerd.internal.v1.opt"]',
            f'  path = "{layout.state / "containerd-opt"}"',
            f"[{cri}]",
            f'  sandbox_image = "{layout.sandbox_image}"',
            "  netns_mounts_under_state_dir = true",
            f"  restrict_oom_score_adj = {str(restrict_oom_score_adj).lower()}",
            '  stream_server_address = "127.0.0.1"',
            "  enable_unprivileged_ports = false",
            f"[{cri}.containerd]",
            '  snapshotter = "overlayfs"',
            '  default_runtime_name = "runc"',
            f"[{cri}.containerd.runtimes.runc]",
            '  runtime_type = "io.containerd.runc.v2"',
            f"[{cri}.containerd.runtimes.runc.options]",
            '  BinaryName = "/usr/sbin/runc"',
            f'  Root = "{layout.cluster_run / "runc"}"',
            "  SystemdCgroup = false",
            f"[{cri}.cni]",
            f'  bin_dir = "{layout.cni_bin_dir}"',
            f'  conf_dir = "{layout.cni_conf_dir}"',
            "  max_conf_num = 1",
            f"[{cri}.registry]",
            '  config_path = ""',
            "",
        ]
    )


def cni_conflist(layout: Layout) -> str:
    """Bridge + host-local + portmap network; containerd adds loopback itself.

    IPAM state lives under the cluster state dir (not /var/lib/cni) so ``down`` removes it.
    """
    net = layout.net
    conf = {
        "cniVersion": "1.0.0",
        "name": "pyodo",
        "plugins": [
            {
                "type": "bridge",
                "bridge": net.bridge,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": net.pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(layout.cni_ipam_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(conf, indent=2) + "\n"


def kubelet_config(layout: Layout, cluster_dns: str | None = None) -> str:
    """KubeletConfiguration for a dev box on cgroup v1 with a small, busy disk.

    ``failCgroupV1: false`` because kubelet >= 1.35 refuses cgroup v1 by default; cgroupfs
    because PID 1 is not systemd; eviction thresholds low so a nearly full dev disk does not
    evict the pods under test; webhook authn/authz so only the apiserver and admin can exec.
    Every port on loopback: the apiserver reaches the kubelet at the node IP, which
    :mod:`.hostnet` sends to 127.0.0.1.
    """
    pki = layout.pki
    net = layout.net
    conf = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "address": LOOPBACK,
        "port": net.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": LOOPBACK,
        "healthzPort": net.kubelet_healthz_port,
        "tlsCertFile": str(pki / "kubelet.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet.key"),
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "cpuManagerPolicy": "none",
        "memorySwap": {},
        "clusterDomain": "cluster.local",
        **({"clusterDNS": [cluster_dns]} if cluster_dns else {}),
        "resolvConf": "/etc/resolv.conf",
        "podCIDR": net.pod_cidr,
        "maxPods": 110,
        "evictionHard": {
            "memory.available": "50Mi",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "protectKernelDefaults": False,
        "registerNode": True,
        "staticPodPath": "",
        "syncFrequency": "10s",
        "nodeStatusUpdateFrequency": "5s",
        "podLogsDir": str(layout.state / "pod-logs"),
        "containerLogMaxSize": "10Mi",
        "containerLogMaxFiles": 2,
        "enableDebuggingHandlers": True,
    }
    return yaml.safe_dump(conf, sort_keys=False)


def kube_proxy_config(layout: Layout) -> str:
    """KubeProxyConfiguration in iptables mode that leaves conntrack sysctls alone.

    NodePorts open on loopback only (kube-proxy's default is every address of the host).
    """
    net = layout.net
    conf = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(layout.kubeconfig_for("kube-proxy"))},
        "mode": "iptables",
        "hostnameOverride": layout.node_name,
        "clusterCIDR": net.pod_cidr,
        "bindAddress": net.node_ip,
        # 0, not the default -999: lowering oom_score_adj needs CAP_SYS_RESOURCE.
        "oomScoreAdj": 0,
        "healthzBindAddress": f"{LOOPBACK}:{net.proxy_healthz_port}",
        "metricsBindAddress": f"{LOOPBACK}:{net.proxy_metrics_port}",
        "nodePortAddresses": [f"{LOOPBACK}/32"],
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    }
    return yaml.safe_dump(conf, sort_keys=False)
