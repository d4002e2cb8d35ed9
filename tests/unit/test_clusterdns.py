"""Cluster DNS for the local cluster: kubeadm's CoreDNS objects and the opt-in (no cluster)."""

from __future__ import annotations

import ipaddress
import json

import pytest
import yaml

from pyodo_tasks.testbed import clusterdns, configs, localapi
from pyodo_tasks.testbed.layout import Network
from pyodo_tasks.testbed.local import LocalProvider


def by_kind(objects: list[dict]) -> dict[str, dict]:
    return {o["kind"]: o for o in objects}


def test_local_dns_address_is_in_the_service_range_and_not_the_apis() -> None:
    net = Network()
    ip = ipaddress.ip_address(clusterdns.LOCAL_DNS_IP)
    assert ip in ipaddress.ip_network(net.service_cidr)
    assert net.api_service_ip != clusterdns.LOCAL_DNS_IP


def test_objects_are_kubeadms_coredns_in_kube_system() -> None:
    objs = by_kind(clusterdns.objects())
    assert set(objs) == {
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "Service",
    }
    svc, deploy = objs["Service"], objs["Deployment"]
    assert (svc["metadata"]["name"], svc["spec"]["clusterIP"]) == ("kube-dns", "10.96.0.10")
    assert svc["spec"]["selector"] == deploy["spec"]["template"]["metadata"]["labels"]
    pod = deploy["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "registry.k8s.io/coredns/coredns:v1.14.2"
    assert container["args"] == ["-conf", "/etc/coredns/Corefile"]
    assert pod["dnsPolicy"] == "Default"  # CoreDNS itself forwards to the node's resolver
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert objs["ClusterRole"]["metadata"]["name"] == "system:coredns"
    assert "kubernetes cluster.local in-addr.arpa ip6.arpa" in objs["ConfigMap"]["data"]["Corefile"]


def test_objects_in_another_namespace_get_their_own_cluster_role_and_no_system_priority() -> None:
    objs = by_kind(clusterdns.objects("dns-test", cluster_ip=None))
    role = objs["ClusterRole"]["metadata"]["name"]
    assert role == "pyodo:coredns:dns-test"
    assert objs["ClusterRoleBinding"]["roleRef"]["name"] == role
    assert objs["ClusterRoleBinding"]["subjects"][0]["namespace"] == "dns-test"
    assert "clusterIP" not in objs["Service"]["spec"]
    assert "priorityClassName" not in objs["Deployment"]["spec"]["template"]["spec"]
    assert all(o["metadata"].get("namespace", "dns-test") == "dns-test" for o in objs.values())


def test_corefile_uses_only_plugins_compiled_into_our_coredns() -> None:
    from pyodo_tasks.testbed.kindnode import gobins

    directives = {
        line.split()[0]
        for line in clusterdns.corefile().splitlines()
        if line.startswith("    ") and not line.startswith("     ") and line.strip() != "}"
    }
    packages = {"prometheus": "metrics"}
    assert {packages.get(d, d) for d in directives} <= set(gobins.COREDNS_PLUGINS)


def test_kubelet_points_pods_at_cluster_dns_only_when_given(scratch_layout) -> None:
    assert "clusterDNS" not in yaml.safe_load(configs.kubelet_config(scratch_layout))
    conf = yaml.safe_load(configs.kubelet_config(scratch_layout, "10.96.0.10"))
    assert conf["clusterDNS"] == ["10.96.0.10"]
    assert conf["clusterDomain"] == "cluster.local"


def test_cluster_dns_is_opt_in_through_the_argument_or_the_environment(
    scratch_layout, monkeypatch
) -> None:
    monkeypatch.delenv(clusterdns.DNS_ENV, raising=False)
    assert LocalProvider(layout=scratch_layout).cluster_dns is False
    monkeypatch.setenv(clusterdns.DNS_ENV, "1")
    assert LocalProvider(layout=scratch_layout).cluster_dns is True
    assert LocalProvider(layout=scratch_layout, cluster_dns=False).cluster_dns is False


@pytest.mark.parametrize(
    ("marker", "wanted", "reusable"),
    [
        ({"version": "v1.36.3"}, False, True),  # booted before cluster DNS existed
        ({"version": "v1.36.3"}, True, False),
        ({"version": "v1.36.3", "cluster_dns": True}, True, True),
        ({"version": "v1.36.3", "cluster_dns": True}, False, False),
    ],
)
def test_a_running_cluster_is_reused_only_with_the_same_dns_choice(
    scratch_layout, monkeypatch, marker, wanted, reusable
) -> None:
    provider = LocalProvider(layout=scratch_layout, cluster_dns=wanted)
    provider.layout.state.mkdir(parents=True)
    provider._booted_marker.write_text(json.dumps(marker))
    # Everything else healthy: the marker decides.
    monkeypatch.setattr("pyodo_tasks.testbed.local.procs.running", lambda _d: 1)
    for path in (provider.layout.admin_kubeconfig, provider.layout.restricted_kubeconfig):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    monkeypatch.setattr(localapi, "api_get", lambda _lay, _p: (200, "ok"))
    monkeypatch.setattr(localapi, "node_state", lambda _lay: "Ready")
    assert provider._healthy() is reusable
