"""Assemble the kind node image as a docker-archive: Debian root, kind's files, pre-loaded images.

Layers, base first (each a plain tar, written without a daemon):

1. ``debootstrap --variant=minbase`` of Debian with systemd, containerd, runc, the CNI plugins,
   iptables/nftables and the tools kind's entrypoint calls; kind's base-image clean-up applied
   (no stray systemd units, ``ReadKMsg=no``, ``/sbin/init``). Cached on its own (key: packages).
2. kind's node files from the ``sigs.k8s.io/kind`` module (:mod:`.kindsrc`), the project's
   kubelet, kubeadm and kubectl, ``/kind/version``, the containerd runtime spec, a bridge CNI
   config, the default StorageClass and the changes this machine needs (below).
3. ``/var/lib/containerd`` holding the control-plane, kube-proxy, etcd, CoreDNS and pause
   images (:mod:`.components`, :mod:`.preload`), so kubeadm's static pods, kube-proxy and the
   cluster DNS start without a registry.

Changes to kind's files, each because of something measured here:

* containerd ``sandbox_image`` is pyodo's pause image (no registry serves kind's);
  ``restrict_oom_score_adj = true`` and ``OOMScoreAdjust=0`` for containerd.service, because
  root in these VMs lacks CAP_SYS_RESOURCE and cannot lower an oom_score_adj;
* the kubelet gets ``--fail-cgroupv1=false``: kubelet >= 1.35 refuses cgroup v1 hosts by default;
* ``/kind/manifests/default-cni.yaml`` applies only a ConfigMap: the node's network is a static
  bridge CNI config (``/etc/cni/net.d``), so it works with or without ``disableDefaultCNI``.
  One node per cluster: the bridge's host-local range is per node.
* a packet a pod sends to a Service IP that the node's kube-proxy has not translated is rejected
  in the node (:data:`SERVICE_GUARD`, run before the kubelet starts). Without it such a packet
  follows the node's default route to the host, where the local test cluster's kube-proxy
  translates the same 10.96.0.0/24 addresses: measured, CoreDNS's first API calls (made before
  the node's kube-proxy was up) reached the local cluster's apiserver ("x509: certificate signed
  by unknown authority"), and a packet no rule matches would leave the machine.

The archive is cached as ``kind-node-<hash>.tar``; the hash covers every input (versions,
packages, kind's files, this package's code, the component images' names and versions, CoreDNS's
plugin list) and nothing built, so a cached image is found without compiling anything and it is
rebuilt exactly when its recipe changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml
from filelock import FileLock, Timeout

from pyodo_tasks import host
from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.testbed import gobuild, manifests, paths
from pyodo_tasks.testbed.images import build as images_build
from pyodo_tasks.testbed.images._system import (
    debian_mirror,
    ensure_debian_packages,
    remove_tree,
    unmount_under,
)
from pyodo_tasks.testbed.images.archive import (
    ImageConfig,
    tar_directory,
    write_docker_archive,
)
from pyodo_tasks.testbed.kindnode import gobins, kindsrc, preload
from pyodo_tasks.testbed.kindnode.components import ComponentImage, component_images
from pyodo_tasks.testbed.versions import KIND_VERSION, KUBERNETES_VERSION, SANDBOX_IMAGE

__all__ = [
    "NODE_PACKAGES",
    "NodeImage",
    "bridge_conflist",
    "default_cni_manifest",
    "default_storage_manifest",
    "ensure_node_image",
    "node_image_ref",
]

SUITE = "bookworm"
#: Debian packages of the node (kind's base Dockerfile list, minus NFS/iSCSI/fuse and curl,
#: plus Debian's containerd, runc and CNI plugins where kind builds its own).
NODE_PACKAGES = (
    "systemd",
    "containerd",
    "runc",
    "containernetworking-plugins",
    "conntrack",
    "iptables",
    "nftables",
    "iproute2",
    "ethtool",
    "kmod",
    "libseccomp2",
    "pigz",
    "ca-certificates",
    "jq",
    "procps",
)
#: kind's base Dockerfile clean-up, as globs relative to the root (``rm -f``).
SYSTEMD_PRUNE = (
    "lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service",
    "lib/systemd/system/multi-user.target.wants/*",
    "etc/systemd/system/*.wants/*",
    "lib/systemd/system/local-fs.target.wants/*",
    "lib/systemd/system/sockets.target.wants/*udev*",
    "lib/systemd/system/sockets.target.wants/*initctl*",
    "lib/systemd/system/basic.target.wants/*",
)
#: Pod network of kind's default config; the static bridge config uses the same range.
POD_SUBNET = "10.244.0.0/16"
_ENABLED_UNITS = ("kubelet.service", "containerd.service", "undo-mount-hacks.service")
#: Rejects forwarded packets still addressed to the cluster's Service range (kube-proxy's DNAT
#: in PREROUTING has already rewritten every packet it knows about, so only untranslated ones
#: match); the node's own traffic (OUTPUT) is untouched. Reads the range from the kubeadm config
#: kind writes before ``kubeadm init`` restarts the kubelet; idempotent (``-C`` before ``-I``).
SERVICE_GUARD = r"""#!/bin/sh
# pyodo kind node: see pyodo_tasks/testbed/kindnode/node.py (SERVICE_GUARD).
conf="${KIND_KUBEADM_CONF:-/kind/kubeadm.conf}"
[ -f "$conf" ] || exit 0
subnets=$(sed -n 's/^ *serviceSubnet: *"*\([^"]*\)"*.*$/\1/p' "$conf" | head -n 1 | tr ',' ' ')
for subnet in $subnets; do
  case "$subnet" in
    *:*) cmd=ip6tables ;;
    *) cmd=iptables ;;
  esac
  set -- FORWARD -d "$subnet" -m comment --comment pyodo-service-guard -j REJECT
  "$cmd" -C "$@" 2>/dev/null || "$cmd" -I "$@" || echo "pyodo: no guard for $subnet" >&2
done
exit 0
"""
SERVICE_GUARD_PATH = "kind/bin/pyodo-service-guard.sh"
_LOCK_TIMEOUT = 3600.0
_PACKAGE_DIR = Path(__file__).resolve().parent

Log = Callable[[str], None]


@dataclass(frozen=True)
class NodeImage:
    """The built node image: ``ref`` for ``kind create cluster --image``, its archive ``path``."""

    ref: str
    path: Path
    preloaded: tuple[str, ...] = ()


def _stderr_log(message: str) -> None:
    print(f"[pyodo kind-node] {message}", file=sys.stderr, flush=True)


# --- the recipe hash ---------------------------------------------------------------------------


def _code_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE_DIR.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _recipe(
    kind_files: dict[kindsrc.NodeFile, bytes],
    components: list[ComponentImage],
    pause_archive: Path,
) -> dict[str, object]:
    return {
        "suite": SUITE,
        "packages": NODE_PACKAGES,
        "kind": KIND_VERSION,
        "kubernetes": KUBERNETES_VERSION,
        "etcd": gobins.ETCD_VERSION,
        "coredns": [gobins.COREDNS_VERSION, *gobins.COREDNS_PLUGINS],
        "kind_files": {f.target: hashlib.sha256(b).hexdigest() for f, b in kind_files.items()},
        "images": [(c.ref, c.base_packages) for c in components],
        "pause": pause_archive.name,
        "code": _code_digest(),
    }


def _digest(doc: object) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def node_image_ref(digest: str) -> str:
    """The node image's tag: the Kubernetes version plus the recipe hash."""
    return f"localhost/pyodo/kind-node:{KUBERNETES_VERSION}-{digest[:12]}"


# --- layer 1: the Debian root ------------------------------------------------------------------


def _debootstrap_layer(
    name: str,
    packages: tuple[str, ...],
    tweak: Callable[[Path], None] | None,
    extra_key: str,
    log: Log,
) -> Path:
    """A cached debootstrap layer of ``packages`` (``tweak`` edits the tree before tarring)."""
    key = _digest(
        {
            "suite": SUITE,
            "packages": packages,
            "prune": images_build.ROOTFS_PRUNE,
            "extra": extra_key,
        }
    )[:16]
    rootfs_dir = images_build.images_dir() / "rootfs"
    rootfs_dir.mkdir(parents=True, exist_ok=True)
    cached = rootfs_dir / f"{name}-{key}.tar"
    if cached.is_file():
        log(f"{name}: debootstrap layer cached ({cached.name})")
        return cached
    work = images_build.images_dir() / "work" / f"rootfs-{name}"
    remove_tree(work)
    target = work / "root"
    target.mkdir(parents=True)
    started = time.monotonic()
    log(f"{name}: debootstrap {SUITE} +{','.join(packages)}")
    tmp = cached.with_suffix(".part")
    try:
        host.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(packages)}",
                SUITE,
                target,
                debian_mirror(SUITE),
            ],
            timeout=1800,
            what=f"debootstrap for {name}",
        )
        unmount_under(target)
        images_build._prune_rootfs(target)
        if tweak is not None:
            tweak(target)
        tar_directory(target, tmp)
        os.replace(tmp, cached)
    finally:
        tmp.unlink(missing_ok=True)
        remove_tree(work)
    for old in rootfs_dir.glob(f"{name}-*.tar"):
        if old != cached:
            old.unlink(missing_ok=True)
    log(f"{name}: debootstrap layer built in {time.monotonic() - started:.0f}s")
    return cached


def _kind_systemd_cleanup(root: Path) -> None:
    """kind's base Dockerfile ``RUN`` steps that edit the Debian root (see SYSTEMD_PRUNE)."""
    for pattern in SYSTEMD_PRUNE:
        for path in root.glob(pattern):
            if path.is_symlink() or path.is_file():
                path.unlink()
    journald = root / "etc/systemd/journald.conf"
    with journald.open("a") as handle:
        handle.write("ReadKMsg=no\n")
    init = root / "sbin/init"
    if init.is_symlink() or init.exists():
        init.unlink()
    init.symlink_to("/usr/lib/systemd/systemd")


# --- layer 2: kind's files and the project's binaries ------------------------------------------


def _containerd_config(kind_config: str) -> str:
    """kind's containerd config with pyodo's sandbox image and a restricted oom_score_adj."""
    replaced = kind_config
    for old, new in (
        ('sandbox_image = "registry.k8s.io/pause:3.10"', f'sandbox_image = "{SANDBOX_IMAGE}"'),
        ("restrict_oom_score_adj = false", "restrict_oom_score_adj = true"),
    ):
        if old not in replaced:
            raise ClusterSetupError(
                f"kind {KIND_VERSION}'s containerd config has no `{old}`; update "
                "pyodo_tasks/testbed/kindnode/node.py"
            )
        replaced = replaced.replace(old, new)
    return replaced


def _cri_base_spec() -> str:
    """``ctr oci spec`` (Debian's containerd, as on the node) with kind's two edits."""
    spec = json.loads(host.run(["ctr", "oci", "spec"], timeout=60, what="ctr oci spec").stdout)
    spec.setdefault("hooks", {}).setdefault("createContainer", []).append(
        {"path": "/kind/bin/mount-product-files.sh"}
    )
    spec.get("process", {}).pop("rlimits", None)
    return json.dumps(spec, indent=2) + "\n"


def bridge_conflist(subnet: str = POD_SUBNET) -> str:
    """The node's static pod network: bridge + host-local + portmap (Debian's CNI plugins)."""
    conf = {
        "cniVersion": "1.0.0",
        "name": "pyodo-kind",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": subnet}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(conf, indent=2) + "\n"


def default_cni_manifest() -> str:
    """What kind applies as its "default CNI": only a note, the network is static."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "pyodo-node-network", "namespace": "kube-system"},
            "data": {
                "cni": "bridge + host-local + portmap, /etc/cni/net.d/10-pyodo-bridge.conflist",
                "podSubnet": POD_SUBNET,
            },
        },
        sort_keys=False,
    )


def default_storage_manifest() -> str:
    """pyodo's hostpath StorageClass (kind's controller-manager enables that provisioner)."""
    objects = manifests.bootstrap_objects()
    return yaml.safe_dump(next(o for o in objects if o["kind"] == "StorageClass"), sort_keys=False)


def _write(root: Path, rel: str, data: str | bytes, mode: int = 0o644) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(mode)


def _link(root: Path, rel: str, target: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


def _stage_kind_layer(
    root: Path, kind_files: dict[kindsrc.NodeFile, bytes], kube_bin: Path, kubeadm: Path
) -> None:
    for entry, data in kind_files.items():
        text = data
        if entry.target == "etc/containerd/config.toml":
            text = _containerd_config(data.decode()).encode()
        elif entry.target == "etc/default/kubelet":
            text = data.rstrip(b"\n") + b" --fail-cgroupv1=false\n"
        _write(root, entry.target, text, entry.mode)
    for directory in ("kind", "kind/bin"):
        (root / directory).chmod(0o755)
    _write(root, "etc/containerd/cri-base.json", _cri_base_spec())
    _write(
        root,
        "etc/systemd/system/containerd.service.d/10-pyodo.conf",
        "# pyodo: root here lacks CAP_SYS_RESOURCE, so -999 cannot be set.\n"
        "[Service]\nOOMScoreAdjust=0\n",
    )
    for unit in _ENABLED_UNITS:
        _link(
            root,
            f"etc/systemd/system/multi-user.target.wants/{unit}",
            f"/etc/systemd/system/{unit}",
        )
    _link(root, "etc/systemd/system/systemd-binfmt.service", "/dev/null")
    _write(root, SERVICE_GUARD_PATH, SERVICE_GUARD, 0o755)
    _write(
        root,
        "etc/systemd/system/kubelet.service.d/20-pyodo.conf",
        f"# pyodo: see SERVICE_GUARD in pyodo_tasks/testbed/kindnode/node.py.\n"
        f"[Service]\nExecStartPre=-/{SERVICE_GUARD_PATH}\n",
    )
    (root / "etc/kubernetes/manifests").mkdir(parents=True)
    _write(root, "etc/cni/net.d/10-pyodo-bridge.conflist", bridge_conflist())
    _link(root, "opt/cni/bin", "/usr/lib/cni")
    _link(root, "usr/local/bin/containerd", "/usr/bin/containerd")
    for name, source in (
        ("kubelet", kube_bin / "kubelet"),
        ("kubectl", kube_bin / "kubectl"),
        ("kubeadm", kubeadm),
    ):
        target = root / "usr/bin" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        target.chmod(0o755)
    _write(root, "kind/version", KUBERNETES_VERSION)
    _write(root, "kind/manifests/default-cni.yaml", default_cni_manifest())
    _write(root, "kind/manifests/default-storage.yaml", default_storage_manifest())


# --- layer 3: the pre-loaded images ------------------------------------------------------------


def _component_archive(image: ComponentImage, work: Path, base: Path | None) -> Path:
    layers = [base] if base is not None else []
    top = work / f"{image.name}-layer.tar"
    image.write_top_layer(top)
    layers.append(top)
    out = work / f"{image.name}.tar"
    write_docker_archive(out, image.ref, layers, image.config(f"pyodo {image.binary}"))
    return out


# --- assembly ----------------------------------------------------------------------------------


def _debootstrap_layers(components: list[ComponentImage], log: Log) -> dict[str, Path]:
    """The node's and the components' Debian layers, debootstrapped side by side (threads).

    debootstrap mostly waits on downloads and dpkg, so on 2 cores running both at once and
    overlapping them with the Go builds shortens a cold build.
    """
    jobs: dict[str, tuple[str, tuple[str, ...], Callable[[Path], None] | None, str]]
    jobs = {"node": ("kind-node", NODE_PACKAGES, _kind_systemd_cleanup, repr(SYSTEMD_PRUNE))}
    for image in components:
        if image.base_packages:
            jobs[image.name] = (f"kind-{image.name}-base", image.base_packages, None, "")
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {key: pool.submit(_debootstrap_layer, *job, log) for key, job in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


def ensure_node_image(log: Log | None = None) -> NodeImage:
    """Build (or reuse) the kind node image archive; see the module docstring.

    The recipe hash needs only versions and paths, so a cached image is found without building
    anything; otherwise the Debian layers are debootstrapped in the background while kubeadm,
    etcd, CoreDNS and the pause image are built.
    """
    log = log or _stderr_log
    kube_bin = paths.kube_bin_dir(KUBERNETES_VERSION)
    pause_recipe = images_build.RECIPES["pause"]
    kind_files = kindsrc.node_files()
    components = component_images(
        kube_bin,
        KUBERNETES_VERSION,
        gobins.etcd_binary_path(),
        gobins.ETCD_VERSION,
        gobins.coredns_binary_path(),
        gobins.COREDNS_VERSION,
    )
    pause_path = images_build.archive_path(pause_recipe)
    digest = _digest(_recipe(kind_files, components, pause_path))
    directory = images_build.images_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"kind-node-{digest[:16]}.tar"
    ref = node_image_ref(digest)
    preloaded = (*(c.ref for c in components), pause_recipe.ref)
    if path.is_file():
        return NodeImage(ref, path, preloaded)
    try:
        with FileLock(os.fspath(directory / ".kind-node.lock")).acquire(timeout=_LOCK_TIMEOUT):
            if path.is_file():
                return NodeImage(ref, path, preloaded)
            started = time.monotonic()
            ensure_debian_packages(["debootstrap", "containerd"])
            with ThreadPoolExecutor(max_workers=1) as pool:
                layers = pool.submit(_debootstrap_layers, components, log)
                gobuild.ensure_kube_binaries()
                kubeadm = gobins.ensure_kubeadm()
                gobins.ensure_etcd()
                gobins.ensure_coredns()
                pause = images_build.ensure_images(["pause"], log=log)["pause"]
                bases = layers.result()
            _build(path, ref, kind_files, kube_bin, kubeadm, components, pause.path, bases, log)
            log(f"node image ready {time.monotonic() - started:.0f}s after the build started")
    except Timeout as exc:
        raise ClusterSetupError(f"waited {_LOCK_TIMEOUT:g}s for another kind node build") from exc
    return NodeImage(ref, path, preloaded)


def _build(
    path: Path,
    ref: str,
    kind_files: dict[kindsrc.NodeFile, bytes],
    kube_bin: Path,
    kubeadm: Path,
    components: list[ComponentImage],
    pause_archive: Path,
    bases: dict[str, Path],
    log: Log,
) -> None:
    started = time.monotonic()
    base = bases["node"]
    work = images_build.images_dir() / "work" / "kind-node"
    remove_tree(work)
    work.mkdir(parents=True)
    try:
        kind_root = work / "kind-layer"
        kind_root.mkdir()
        _stage_kind_layer(kind_root, kind_files, kube_bin, kubeadm)
        kind_layer = work / "kind-layer.tar"
        tar_directory(kind_root, kind_layer, exclude_contents_of=())
        archives = [_component_archive(c, work, bases.get(c.name)) for c in components]
        images_root = work / "images-layer"
        store = images_root / "var/lib/containerd"
        refs = preload.import_into_root(store, [*archives, pause_archive], work / "ctr")
        log(f"pre-loaded {len(refs)} images: {', '.join(sorted(refs))}")
        (images_root / "var").chmod(0o755)
        (images_root / "var/lib").chmod(0o755)
        images_layer = work / "images-layer.tar"
        tar_directory(images_root, images_layer, exclude_contents_of=())
        config = ImageConfig(
            env=(
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "container=docker",
            ),
            entrypoint=("/usr/local/bin/entrypoint", "/sbin/init"),
            labels={
                "org.opencontainers.image.title": "pyodo kind node",
                "io.pyodo.kubernetes": KUBERNETES_VERSION,
                "io.pyodo.kind": KIND_VERSION,
            },
        )
        write_docker_archive(
            path,
            ref,
            [base, kind_layer, images_layer],
            config,
            history=["debootstrap + kind clean-up", "kind files + kubelet/kubeadm", "images"],
        )
    finally:
        remove_tree(work)
    for old in path.parent.glob("kind-node-*.tar"):
        if old != path:
            old.unlink(missing_ok=True)
    size = path.stat().st_size >> 20
    log(f"built {ref} in {time.monotonic() - started:.0f}s: {path} ({size} MiB)")
