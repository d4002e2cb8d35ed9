"""The kind node image recipe and the kind provider's choices, without building anything."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

from pyodo_tasks import host
from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.testbed import engine, kind
from pyodo_tasks.testbed.kindnode import components, gobins, kindsrc, node
from pyodo_tasks.testbed.versions import SANDBOX_IMAGE

KIND_CONTAINERD = """\
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  restrict_oom_score_adj = false
"""


def test_containerd_config_uses_pyodos_pause_and_a_restricted_oom_score() -> None:
    out = node._containerd_config(KIND_CONTAINERD)
    assert f'sandbox_image = "{SANDBOX_IMAGE}"' in out
    assert "restrict_oom_score_adj = true" in out
    assert "registry.k8s.io/pause" not in out


def test_containerd_config_that_kind_changed_is_refused_by_name() -> None:
    with pytest.raises(ClusterSetupError, match="restrict_oom_score_adj = false"):
        node._containerd_config('sandbox_image = "registry.k8s.io/pause:3.10"\n')


def test_bridge_conflist_covers_kinds_default_pod_subnet() -> None:
    conf = json.loads(node.bridge_conflist())
    types = [p["type"] for p in conf["plugins"]]
    assert types == ["bridge", "portmap"]
    assert conf["plugins"][0]["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/16"}]]


def test_default_storage_is_pyodos_hostpath_class() -> None:
    sc = yaml.safe_load(node.default_storage_manifest())
    assert sc["kind"] == "StorageClass"
    assert sc["provisioner"] == "kubernetes.io/host-path"
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"


def test_default_cni_manifest_is_only_a_note() -> None:
    doc = yaml.safe_load(node.default_cni_manifest())
    assert doc["kind"] == "ConfigMap" and doc["metadata"]["namespace"] == "kube-system"


def test_component_images_carry_the_names_kubeadm_asks_for(tmp_path) -> None:
    images = components.component_images(
        tmp_path, "v1.36.3", tmp_path / "etcd", "v3.6.8", tmp_path / "coredns", "v1.14.2"
    )
    assert sorted(i.ref for i in images) == [
        "registry.k8s.io/coredns/coredns:v1.14.2",
        "registry.k8s.io/etcd:3.6.8-0",
        "registry.k8s.io/kube-apiserver:v1.36.3",
        "registry.k8s.io/kube-controller-manager:v1.36.3",
        "registry.k8s.io/kube-proxy:v1.36.3",
        "registry.k8s.io/kube-scheduler:v1.36.3",
    ]
    assert [i.name for i in images if i.base_packages] == ["kube-proxy"]


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs sh")
def test_iptables_wrapper_is_valid_sh(tmp_path) -> None:
    script = tmp_path / "wrapper"
    script.write_text(components.IPTABLES_WRAPPER)
    proc = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "iptables-restore" in components.IPTABLES_WRAPPER


def test_coredns_image_runs_its_binary_with_the_deployments_arguments(tmp_path) -> None:
    image = components.coredns_image(tmp_path / "coredns", "v1.14.2")
    config = image.config("test").to_json()
    # kubeadm's Deployment gives only `args: [-conf, /etc/coredns/Corefile]`.
    assert config["Entrypoint"] == ["/usr/local/bin/coredns"]
    static = components.component_images(
        tmp_path, "v1.36.3", tmp_path / "etcd", "v3.6.8", tmp_path / "coredns", "v1.14.2"
    )
    assert [i.name for i in static if i.binary_entrypoint] == ["coredns"]


def test_coredns_main_registers_every_plugin_of_kubeadms_corefile() -> None:
    # kubeadm v1.36's Corefile: errors health ready kubernetes prometheus forward cache loop
    # reload loadbalance (the prometheus directive lives in package metrics).
    kubeadm_corefile = [
        "cache",
        "errors",
        "forward",
        "health",
        "kubernetes",
        "loadbalance",
        "loop",
        "metrics",
        "ready",
        "reload",
    ]
    main = gobins.coredns_main()
    for plugin in kubeadm_corefile:
        assert f'_ "github.com/coredns/coredns/plugin/{plugin}"' in main
    assert "coremain.Run()" in main
    assert "route53" not in main and "azure" not in main
    assert "require github.com/coredns/coredns v1.14.2" in gobins.coredns_go_mod("v1.14.2")


def test_etcd_wrapper_pins_every_etcd_module_to_one_version() -> None:
    go_mod = gobins.etcd_go_mod("v3.6.8")
    for module in gobins.ETCD_MODULES:
        assert f"\t{module} v3.6.8" in go_mod


def test_node_image_choice_explicit_then_env_then_kinds_default(monkeypatch) -> None:
    monkeypatch.delenv(kind.IMAGE_ENV, raising=False)
    assert kind.node_image_choice() is None
    monkeypatch.setenv(kind.IMAGE_ENV, "pyodo")
    assert kind.node_image_choice() == "pyodo"
    assert kind.node_image_choice("kindest/node:v1.36.0") == "kindest/node:v1.36.0"


def test_dockerd_leaves_the_hosts_firewall_and_bridges_alone() -> None:
    argv = engine.dockerd_daemon().argv
    for flag in ("--iptables=false", "--ip-masq=false", "--bridge=none"):
        assert flag in argv
    assert any(a.startswith("--data-root=") for a in argv)
    assert engine.own_host().startswith("unix:///")


def test_missing_capabilities_reads_the_bounding_set() -> None:
    full = "CapBnd:\t000001ffffffffff\n"
    assert engine.missing_capabilities(full) == []
    without_sys_resource = "CapBnd:\t000001fffeffffff\n"
    assert engine.missing_capabilities(without_sys_resource) == ["CAP_SYS_RESOURCE"]


def test_runc_wrapper_strips_missing_caps_from_bundle_and_exec_specs(tmp_path) -> None:
    if shutil.which("jq") is None:
        pytest.skip("needs jq")
    fake_runc = tmp_path / "runc"
    fake_runc.write_text('#!/bin/sh\necho "runc $*"\n')
    fake_runc.chmod(0o755)
    wrapper = tmp_path / "wrapper"
    wrapper.write_text(engine.runc_wrapper(["CAP_SYS_RESOURCE"], runc=str(fake_runc)))
    wrapper.chmod(0o755)
    caps = ["CAP_CHOWN", "CAP_SYS_RESOURCE"]
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(
        json.dumps({"process": {"capabilities": {"bounding": caps, "effective": caps}}})
    )
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"capabilities": {"permitted": caps}}))
    out = subprocess.run(
        [str(wrapper), "--root", "/x", "create", "--bundle", str(bundle), "id1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == f"runc --root /x create --bundle {bundle} id1"
    spec = json.loads((bundle / "config.json").read_text())
    assert spec["process"]["capabilities"] == {
        "bounding": ["CAP_CHOWN"],
        "effective": ["CAP_CHOWN"],
    }
    subprocess.run([str(wrapper), "exec", f"--process={process}", "id1"], check=True)
    assert json.loads(process.read_text())["capabilities"] == {"permitted": ["CAP_CHOWN"]}


@pytest.fixture
def recipe_inputs(monkeypatch, tmp_path):
    """An empty cache and kind's files stubbed: the recipe hash without the Go module proxy."""
    monkeypatch.setenv("PYODO_CACHE_DIR", str(tmp_path))
    stub = {kindsrc.NODE_FILES[0]: b"#!/bin/sh\n"}
    monkeypatch.setattr(kindsrc, "node_files", lambda version=None: stub)
    return tmp_path


def _refuse_to_build(*_args, **_kwargs):
    raise AssertionError("a cached node image must not build anything")


def test_a_cached_node_image_is_found_without_building_anything(recipe_inputs, monkeypatch) -> None:
    for name in ("ensure_kubeadm", "ensure_etcd", "ensure_coredns"):
        monkeypatch.setattr(gobins, name, _refuse_to_build)
    monkeypatch.setattr(node.gobuild, "ensure_kube_binaries", _refuse_to_build)
    monkeypatch.setattr(node.images_build, "ensure_images", _refuse_to_build)
    digest = node._digest(node._recipe(*_recipe_args()))
    cached = recipe_inputs / "images" / f"kind-node-{digest[:16]}.tar"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"archive")
    image = node.ensure_node_image(log=lambda _m: None)
    assert image.path == cached
    assert image.ref == node.node_image_ref(digest)
    assert "registry.k8s.io/coredns/coredns:v1.14.2" in image.preloaded


def _recipe_args():
    from pyodo_tasks.testbed import paths
    from pyodo_tasks.testbed.images import build as images_build
    from pyodo_tasks.testbed.versions import KUBERNETES_VERSION

    comps = components.component_images(
        paths.kube_bin_dir(KUBERNETES_VERSION),
        KUBERNETES_VERSION,
        gobins.etcd_binary_path(),
        gobins.ETCD_VERSION,
        gobins.coredns_binary_path(),
        gobins.COREDNS_VERSION,
    )
    pause = images_build.archive_path(images_build.RECIPES["pause"])
    return kindsrc.node_files(), comps, pause


def test_node_image_hash_follows_the_recipe_not_the_built_binaries(
    recipe_inputs, monkeypatch
) -> None:
    before = node._digest(node._recipe(*_recipe_args()))
    # Binaries appearing in (or vanishing from) the cache leave the recipe as it was...
    coredns = gobins.coredns_binary_path()
    coredns.parent.mkdir(parents=True)
    coredns.write_bytes(b"\x7fELF")
    assert node._digest(node._recipe(*_recipe_args())) == before
    # ...while a CoreDNS version or plugin list change is a new recipe, so a new image.
    monkeypatch.setattr(gobins, "COREDNS_VERSION", "v1.14.3")
    bumped = node._digest(node._recipe(*_recipe_args()))
    assert bumped != before
    monkeypatch.setattr(gobins, "COREDNS_PLUGINS", (*gobins.COREDNS_PLUGINS, "dns64"))
    assert node._digest(node._recipe(*_recipe_args())) not in (before, bumped)


def test_a_new_kind_cluster_whose_coredns_never_comes_up_is_deleted_and_named(
    monkeypatch,
) -> None:
    provider = kind.KindProvider("t", node_image="pyodo")
    calls: list[list[str]] = []

    def fake_docker(args: list[str], timeout: float = 300):
        calls.append(args)
        failed = "rollout" in args
        return host.Result(args, 1 if failed else 0, "", "timed out waiting" if failed else "")

    monkeypatch.setattr(provider.cli, "docker", fake_docker)
    monkeypatch.setattr(provider.cli, "kind", lambda args, *a, **k: calls.append(args))
    with pytest.raises(ClusterSetupError, match=r"CoreDNS was not available .*timed out waiting"):
        provider._wait_cluster_dns(timeout=5)
    assert calls[0][:2] == ["exec", "t-control-plane"]
    assert "deployment/coredns" in calls[0] and "--timeout=5s" in calls[0]
    assert ["delete", "cluster", "--name", "t"] in calls


def _run_guard(tmp_path, conf_text: str | None, existing: bool = False) -> list[str]:
    """Run SERVICE_GUARD with fake iptables/ip6tables that log their arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "calls"
    for name in ("iptables", "ip6tables"):
        fake = bin_dir / name
        check_status = 0 if existing else 1
        fake.write_text(
            f'#!/bin/sh\necho "{name} $*" >> {log}\n[ "$1" = -C ] && exit {check_status}\nexit 0\n'
        )
        fake.chmod(0o755)
    script = tmp_path / "guard.sh"
    script.write_text(node.SERVICE_GUARD)
    conf = tmp_path / "kubeadm.conf"
    if conf_text is None:
        conf.unlink(missing_ok=True)
    else:
        conf.write_text(conf_text)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "KIND_KUBEADM_CONF": str(conf)}
    proc = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return log.read_text().splitlines() if log.exists() else []


KUBEADM_CONF = """\
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
networking:
  podSubnet: "10.244.0.0/16"
  serviceSubnet: "10.96.0.0/16,fd00:10:96::/112"
"""


def test_service_guard_rejects_untranslated_service_traffic_in_forward_only(tmp_path) -> None:
    calls = _run_guard(tmp_path, KUBEADM_CONF)
    rule = "FORWARD -d {} -m comment --comment pyodo-service-guard -j REJECT"
    assert calls == [
        f"iptables -C {rule.format('10.96.0.0/16')}",
        f"iptables -I {rule.format('10.96.0.0/16')}",
        f"ip6tables -C {rule.format('fd00:10:96::/112')}",
        f"ip6tables -I {rule.format('fd00:10:96::/112')}",
    ]
    assert "10.244.0.0/16" not in " ".join(calls)  # pod traffic is never touched


def test_service_guard_is_idempotent_and_waits_for_kinds_config(tmp_path) -> None:
    assert [c.split()[1] for c in _run_guard(tmp_path, KUBEADM_CONF, existing=True)] == [
        "-C",
        "-C",
    ]
    (tmp_path / "calls").unlink()
    assert _run_guard(tmp_path, None) == []


@pytest.mark.parametrize(("running", "recreated"), [("img:new", False), ("img:old", True)])
def test_up_recreates_a_cluster_that_runs_an_older_node_image(
    monkeypatch, tmp_path, running: str, recreated: bool
) -> None:
    import pyodo_tasks.testbed.kindnode as kindnode

    monkeypatch.setenv("PYODO_CACHE_DIR", str(tmp_path))
    provider = kind.KindProvider("t", node_image="pyodo", load_pyodo_images=False)
    calls: list[str] = []
    monkeypatch.setattr(provider, "engine", lambda: None)
    monkeypatch.setattr(provider, "clusters", lambda env=None: ["t"])
    monkeypatch.setattr(
        kindnode, "ensure_node_image", lambda: node.NodeImage("img:new", tmp_path / "x.tar")
    )

    def fake_docker(args: list[str], timeout: float = 300) -> host.Result:
        return host.Result(args, 0, f"{running}\n", "")

    def fake_kind(args: list[str], *_a, **_k) -> host.Result:
        calls.append(" ".join(args[:2]))
        return host.Result(args, 0, "", "")

    monkeypatch.setattr(provider.cli, "docker", fake_docker)
    monkeypatch.setattr(provider.cli, "kind", fake_kind)
    monkeypatch.setattr(provider, "_create", lambda: calls.append("create"))
    provider.up()
    if recreated:
        assert calls == ["delete cluster", "create"]
    else:
        assert calls == ["export kubeconfig"]
