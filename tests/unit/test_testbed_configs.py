"""Rendering of the local cluster's config files and daemon command lines."""

from __future__ import annotations

import json

import yaml

from pyodo_tasks.testbed import components, configs, manifests


def test_containerd_uses_its_own_socket_root_state_and_the_local_pause_image(
    scratch_layout, tmp_path
) -> None:
    text = configs.containerd_toml(scratch_layout)
    assert f'address = "{tmp_path}/run/containerd/containerd.sock"' in text
    assert f'root = "{tmp_path}/cache/containerd/root"' in text
    assert f'state = "{tmp_path}/run/containerd/state"' in text
    assert 'sandbox_image = "localhost/pyodo/pause:3.10"' in text
    assert "netns_mounts_under_state_dir = true" in text
    assert "SystemdCgroup = false" in text
    assert '"/run/containerd/containerd.sock"' not in text
    assert '"/var/lib/containerd"' not in text


def test_oom_score_restriction_follows_cap_sys_resource(scratch_layout) -> None:
    assert "restrict_oom_score_adj = true" in configs.containerd_toml(scratch_layout, True)
    assert "restrict_oom_score_adj = false" in configs.containerd_toml(scratch_layout, False)
    assert configs.has_cap_sys_resource("CapEff:\t000001ffffffffff\n")
    assert not configs.has_cap_sys_resource("CapEff:\t000001fffeffffff\n")


def test_cni_conflist_is_a_bridge_on_a_pod_cidr_away_from_the_host_net(
    scratch_layout, tmp_path
) -> None:
    conf = json.loads(configs.cni_conflist(scratch_layout))
    bridge, portmap = conf["plugins"]
    assert bridge["type"] == "bridge" and bridge["bridge"] == "pyodo0"
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/24"}]]
    assert bridge["ipam"]["dataDir"].startswith(str(tmp_path / "state"))
    assert portmap["capabilities"] == {"portMappings": True}


def test_kubelet_config_allows_cgroup_v1_and_cgroupfs(scratch_layout, tmp_path) -> None:
    conf = yaml.safe_load(configs.kubelet_config(scratch_layout))
    assert conf["kind"] == "KubeletConfiguration"
    assert conf["failCgroupV1"] is False
    assert conf["cgroupDriver"] == "cgroupfs"
    assert conf["failSwapOn"] is False
    assert conf["cpuManagerPolicy"] == "none"
    assert conf["authentication"]["webhook"]["enabled"] is True
    assert conf["authentication"]["anonymous"]["enabled"] is False
    assert conf["authorization"]["mode"] == "Webhook"
    assert conf["containerRuntimeEndpoint"] == f"unix://{tmp_path}/run/containerd/containerd.sock"
    assert conf["evictionHard"]["nodefs.available"] == "1%"


def test_kube_proxy_config_is_iptables_and_leaves_conntrack_alone(scratch_layout) -> None:
    conf = yaml.safe_load(configs.kube_proxy_config(scratch_layout))
    assert conf["mode"] == "iptables"
    assert conf["clusterCIDR"] == "10.244.0.0/24"
    assert conf["conntrack"]["maxPerCore"] == 0


def test_daemons_start_in_dependency_order_and_hostpath_provisioner_is_on(scratch_layout) -> None:
    names = [d.name for d in components.daemons(scratch_layout)]
    assert names == [
        "etcd",
        "containerd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
        "kube-proxy",
    ]
    kcm = components.kube_controller_manager(scratch_layout).argv
    assert "--enable-hostpath-provisioner=true" in kcm
    api = components.kube_apiserver(scratch_layout).argv
    assert "--service-cluster-ip-range=10.96.0.0/24" in api
    assert "--advertise-address=10.244.0.1" in api
    assert all(d.pid_file.parent == scratch_layout.pids for d in components.daemons(scratch_layout))


def test_restricted_role_grants_only_what_pyodo_needs() -> None:
    objs = {o["kind"]: o for o in manifests.bootstrap_objects()}
    rules = objs["Role"]["rules"]
    resources = {r for rule in rules for r in rule["resources"]}
    assert resources == {
        "deployments",
        "services",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "pods",
        "pods/log",
        "events",
        "pods/exec",
        "pods/portforward",
    }
    exec_rule = next(r for r in rules if "pods/exec" in r["resources"])
    assert exec_rule["verbs"] == ["create", "get"]
    pod_rule = next(r for r in rules if "pods" in r["resources"])
    assert "create" not in pod_rule["verbs"] and "delete" not in pod_rule["verbs"]
    assert objs["StorageClass"]["provisioner"] == "kubernetes.io/host-path"
    assert objs["RoleBinding"]["subjects"][0]["name"] == manifests.RESTRICTED_USER
