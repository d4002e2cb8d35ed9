"""The local cluster listens on loopback only: command lines, configs and the NAT plan.

The cluster test ``tests/cluster/test_listeners_real.py`` checks the sockets themselves.
"""

from __future__ import annotations

import json

import yaml

from pyodo_tasks.testbed import components, configs, hostclean, hostnet
from pyodo_tasks.testbed.layout import LOOPBACK, Network

ANY_ADDRESS = ("0.0.0.0", "[::]", "::")


def test_no_daemon_is_told_to_listen_on_every_address(scratch_layout) -> None:
    argvs = [d.argv for d in components.daemons(scratch_layout)]
    texts = [
        configs.kubelet_config(scratch_layout),
        configs.kube_proxy_config(scratch_layout),
        configs.containerd_toml(scratch_layout),
    ]
    for word in [w for argv in argvs for w in argv]:
        assert not any(word.endswith(f"={a}") for a in ANY_ADDRESS), word
    for text in texts:
        assert not any(a in text for a in ANY_ADDRESS[:2]), text


def test_the_apiserver_binds_loopback_and_advertises_the_bridge_address(scratch_layout) -> None:
    api = components.kube_apiserver(scratch_layout).argv
    assert "--bind-address=127.0.0.1" in api
    assert "--advertise-address=10.244.0.1" in api
    for name in ("kube-controller-manager", "kube-scheduler"):
        argv = next(d.argv for d in components.daemons(scratch_layout) if d.name == name)
        assert "--bind-address=127.0.0.1" in argv


def test_the_kubelet_listens_on_loopback_with_the_bridge_address_as_node_ip(
    scratch_layout,
) -> None:
    conf = yaml.safe_load(configs.kubelet_config(scratch_layout))
    assert conf["address"] == LOOPBACK
    assert conf["healthzBindAddress"] == LOOPBACK
    assert conf["readOnlyPort"] == 0
    assert "--node-ip=10.244.0.1" in components.kubelet(scratch_layout).argv


def test_kube_proxy_serves_and_opens_node_ports_on_loopback_only(scratch_layout) -> None:
    conf = yaml.safe_load(configs.kube_proxy_config(scratch_layout))
    assert conf["nodePortAddresses"] == ["127.0.0.1/32"]
    assert conf["healthzBindAddress"].startswith("127.0.0.1:")
    assert conf["metricsBindAddress"].startswith("127.0.0.1:")


def test_etcd_and_containerd_stream_server_are_on_loopback(scratch_layout) -> None:
    etcd = components.etcd(scratch_layout).argv
    urls = [w.split("=", 1)[1] for w in etcd if w.startswith("--listen-")]
    assert urls and all(u == "" or u.startswith("http://127.0.0.1:") for u in urls)
    assert 'stream_server_address = "127.0.0.1"' in configs.containerd_toml(scratch_layout)


def test_the_node_address_is_the_pod_bridges_gateway_as_the_cni_plugin_sets_it(
    scratch_layout,
) -> None:
    net = Network(pod_cidr="10.250.3.0/24")
    assert (net.node_ip, net.bridge_address) == ("10.250.3.1", "10.250.3.1/24")
    conf = json.loads(configs.cni_conflist(scratch_layout))["plugins"][0]
    assert conf["isGateway"] and conf["bridge"] == scratch_layout.net.bridge
    assert scratch_layout.net.bridge_address == "10.244.0.1/24"


def test_kubeconfigs_point_at_loopback(scratch_layout) -> None:
    assert scratch_layout.server_url == "https://127.0.0.1:6443"


def _dnat(rule: list[str]) -> tuple[str, str, str]:
    """(destination, port, DNAT target) of one rendered rule."""
    return rule[rule.index("-d") + 1], rule[rule.index("--dport") + 1], rule[-1]


def test_pods_reach_the_api_service_and_its_endpoint_on_loopback_only() -> None:
    rules = hostnet.rules(Network())
    assert sorted(map(_dnat, rules[hostnet.FROM_PODS])) == [
        ("10.244.0.1/32", "6443", "127.0.0.1:6443"),
        ("10.96.0.1/32", "443", "127.0.0.1:6443"),
    ]


def test_only_the_host_reaches_the_kubelet_through_the_node_address() -> None:
    rules = hostnet.rules(Network())
    host = sorted(map(_dnat, rules[hostnet.FROM_HOST]))
    assert ("10.244.0.1/32", "10250", "127.0.0.1:10250") in host
    assert all(port != "10250" for _, port, _ in map(_dnat, rules[hostnet.FROM_PODS]))


def test_pods_traffic_is_caught_on_the_bridge_and_the_hosts_in_output() -> None:
    jumps = {j.chain: j for j in hostnet.jumps(Network())}
    assert jumps[hostnet.FROM_PODS].parent == "PREROUTING"
    assert jumps[hostnet.FROM_PODS].args() == ["-i", "pyodo0", "-j", hostnet.FROM_PODS]
    assert jumps[hostnet.FROM_HOST].parent == "OUTPUT"
    assert all(hostclean.ours(chain) for chain in jumps)  # down removes them


def test_a_rule_line_names_its_jump_target() -> None:
    line = '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'
    assert hostclean.target_of(line) == "KUBE-SERVICES"
    assert hostclean.target_of("-A PREROUTING -i pyodo0 -g PYODO-FROM-PODS") == "PYODO-FROM-PODS"
    assert hostclean.target_of("-P PREROUTING ACCEPT") is None
