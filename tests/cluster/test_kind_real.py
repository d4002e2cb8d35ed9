"""The kind path for real: the node image built here, and a kind cluster's whole life.

Runs when ``PYODO_KIND_IMAGE`` is set (``./run test`` sets ``pyodo``). The lifecycle uses its own
cluster name so the shared ``pyodo`` kind cluster of the kind-marked tests is left alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pyodo_tasks.cluster import get_provider
from pyodo_tasks.testbed import gobuild
from pyodo_tasks.testbed.images import ensure_images
from pyodo_tasks.testbed.kind import IMAGE_ENV, LOCAL_NODE_IMAGE, KindProvider
from pyodo_tasks.testbed.kindnode import NodeImage, ensure_node_image, kindsrc
from pyodo_tasks.testbed.kindnode import node as node_module
from pyodo_tasks.testbed.kindnode.gobins import ensure_kubeadm
from pyodo_tasks.testbed.versions import KUBERNETES_VERSION as VERSION
from pyodo_tasks.testbed.versions import SANDBOX_IMAGE

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        os.environ.get(IMAGE_ENV) != LOCAL_NODE_IMAGE,
        reason=f"kind tests run with {IMAGE_ENV}={LOCAL_NODE_IMAGE} (./run test sets it)",
    ),
]

LIFECYCLE = "pyodo-lifecycle"
READY = "jsonpath={.items[0].status.conditions[?(@.type=='Ready')].status}"


@pytest.fixture(scope="module")
def node_image() -> NodeImage:
    return ensure_node_image()


def image_files(archive: Path) -> dict[str, tarfile.TarInfo | bytes]:
    """Every path in the image's layers (later layers win): bytes for small files, else info."""
    files: dict[str, tarfile.TarInfo | bytes] = {}
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        for layer in manifest[0]["Layers"]:
            with tarfile.open(fileobj=outer.extractfile(layer)) as inner:
                for member in inner:
                    small = member.isfile() and member.size < 1 << 20
                    files[member.name] = inner.extractfile(member).read() if small else member  # type: ignore[union-attr]
    return files


def test_node_image_holds_kinds_files_our_binaries_and_the_images_kubeadm_needs(
    node_image: NodeImage,
) -> None:
    files = image_files(node_image.path)
    for entry, data in kindsrc.node_files().items():
        if entry.target not in ("etc/containerd/config.toml", "etc/default/kubelet"):
            assert files[entry.target] == data, entry.target
    assert files["kind/version"] == VERSION.encode()
    assert f'sandbox_image = "{SANDBOX_IMAGE}"'.encode() in files["etc/containerd/config.toml"]  # type: ignore[operator]
    assert b"--fail-cgroupv1=false" in files["etc/default/kubelet"]  # type: ignore[operator]
    for binary in ("usr/bin/kubelet", "usr/bin/kubeadm", "usr/bin/kubectl", "usr/bin/containerd"):
        assert isinstance(files[binary], tarfile.TarInfo) and files[binary].size > 1 << 20
    assert "etc/cni/net.d/10-pyodo-bridge.conflist" in files
    storage = yaml.safe_load(files["kind/manifests/default-storage.yaml"])  # type: ignore[arg-type]
    assert storage["provisioner"] == "kubernetes.io/host-path"
    assert any(p.startswith("var/lib/containerd/io.containerd.content.v1.content") for p in files)
    # kubeadm's own list of what it deploys (CoreDNS included), minus pause: the node's
    # sandbox image is pyodo's, named in the containerd config.
    listed = subprocess.run(
        [str(ensure_kubeadm()), "config", "images", "list", f"--kubernetes-version={VERSION}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    needed = {ref for ref in listed if "pause" not in ref}
    assert any("coredns" in ref for ref in needed)
    assert needed <= set(node_image.preloaded)
    assert SANDBOX_IMAGE in node_image.preloaded


def test_node_image_is_reused_from_the_cache(
    node_image: NodeImage, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached node image must not be rebuilt")

    monkeypatch.setattr(node_module, "_build", no_build)
    monkeypatch.setattr(node_module, "_debootstrap_layers", no_build)
    mtime = node_image.path.stat().st_mtime
    again = ensure_node_image()
    assert again.path == node_image.path and again.path.stat().st_mtime == mtime


def test_docker_engine_leaves_the_hosts_firewall_alone(node_image: NodeImage) -> None:
    provider = KindProvider(LIFECYCLE, node_image=LOCAL_NODE_IMAGE)
    provider.engine()
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    assert "DOCKER" not in rules
    assert ":FORWARD ACCEPT" in rules or ":FORWARD DROP" not in rules


@pytest.fixture(scope="module")
def lifecycle() -> Iterator[KindProvider]:
    provider = KindProvider(LIFECYCLE, node_image=LOCAL_NODE_IMAGE, load_pyodo_images=False)
    yield provider
    provider.down()


def node_ready(provider: KindProvider) -> str:
    kubectl = gobuild.ensure_kube_binaries() / "kubectl"
    return subprocess.run(
        [str(kubectl), f"--kubeconfig={provider.kubeconfig}", "get", "nodes", "-o", READY],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def local_cluster_still_answers() -> None:
    """Both clusters on one host: the local one's node stays Ready with a kind node up."""
    local = get_provider("local")
    if not local.status().running:
        return
    kubectl = gobuild.ensure_kube_binaries() / "kubectl"
    out = subprocess.run(
        [str(kubectl), f"--kubeconfig={local.kubeconfig}", "get", "nodes", "-o", READY],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out == "True"


def pod_traffic_stays_in_its_cluster(provider: KindProvider) -> None:
    """CoreDNS (available when ``up`` returns) reached only its own apiserver.

    Its first API calls run before the node's kube-proxy is up; without the node's service guard
    they followed the default route to the host, where the local cluster's kube-proxy sent them
    to the local apiserver: "x509: certificate signed by unknown authority" in CoreDNS's log.
    """
    rules = provider.cli.docker(
        ["exec", provider.node_container, "iptables-save", "-t", "filter"], 60
    )
    assert "pyodo-service-guard" in rules.stdout and "-d 10.96.0.0/16" in rules.stdout
    logs = provider._node_kubectl(
        ["-n", "kube-system", "logs", "-l", "k8s-app=kube-dns", "--tail=-1"], 60
    )
    assert logs.returncode == 0, logs.stderr
    assert "CoreDNS-" in logs.stdout
    assert "x509" not in logs.stdout, logs.stdout[-2000:]


def container_id(provider: KindProvider) -> str:
    proc = provider.cli.docker(["inspect", "-f", "{{.Id}}", provider.node_container], timeout=60)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def test_kind_cluster_lives_created_reused_loaded_and_deleted(lifecycle: KindProvider) -> None:
    started = time.monotonic()
    info = lifecycle.up()
    created_in = time.monotonic() - started
    assert info.context == f"kind-{LIFECYCLE}" and info.kubeconfig.is_file()
    assert node_ready(lifecycle) == "True"
    first = container_id(lifecycle)
    local_cluster_still_answers()
    pod_traffic_stays_in_its_cluster(lifecycle)

    started = time.monotonic()
    lifecycle.up()
    reused_in = time.monotonic() - started
    assert container_id(lifecycle) == first, "up on an existing cluster reuses it"
    print(f"kind cluster created in {created_in:.1f}s, reused in {reused_in:.1f}s")

    init = ensure_images(["init"])["init"]
    assert init.ref not in lifecycle._node_images()
    lifecycle.load_image(init)
    assert init.ref in lifecycle._node_images()

    lifecycle.down()
    assert container_id(lifecycle) == ""
    assert not lifecycle.kubeconfig.exists()
    assert LIFECYCLE not in lifecycle.clusters()
    status = get_provider("kind", cluster_name=LIFECYCLE).status()
    assert not status.running
