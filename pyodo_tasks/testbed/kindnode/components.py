"""Images of what kubeadm runs on a kind node: control plane, kube-proxy, etcd and CoreDNS.

Why these names: kubeadm writes static pods (and the kube-proxy DaemonSet) for
``registry.k8s.io/<component>:<version>``; kind's own node images carry exactly those images
pre-loaded, so the kubelet never pulls. pyodo builds them here from the binaries it compiled
(Kubernetes and etcd from the Go module proxy) and tags them with the names kubeadm asks for;
a label on each says where it was built. Control-plane binaries are static, so their images hold
just the binary; kube-proxy needs iptables and conntrack, so it sits on a debootstrapped Debian
layer with an ``iptables`` that follows the node's backend (what upstream's iptables-wrapper does).
CoreDNS is started by its Deployment with arguments only (``-conf /etc/coredns/Corefile``), so
its image has the binary as entrypoint, like upstream's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyodo_tasks.testbed.images.archive import FileEntry, ImageConfig, write_layer

__all__ = [
    "CONTROL_PLANE",
    "IPTABLES_WRAPPER",
    "KUBE_PROXY_PACKAGES",
    "ComponentImage",
    "component_images",
    "coredns_image",
    "etcd_tag",
]

#: Static pods kubeadm writes for a control-plane node (binary name = image name).
CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
#: Debian packages under kube-proxy (iptables mode needs iptables-save/restore and conntrack).
KUBE_PROXY_PACKAGES = ("iptables", "conntrack")
REGISTRY = "registry.k8s.io"
_LINKED = (
    "iptables",
    "iptables-save",
    "iptables-restore",
    "ip6tables",
    "ip6tables-save",
    "ip6tables-restore",
)

#: Chooses legacy or nft by where the kubelet put its hint chains (same rule as upstream's
#: iptables-wrapper), repoints the iptables commands at that backend, then runs the command.
IPTABLES_WRAPPER = """\
#!/bin/sh
# pyodo kube-proxy image: use the iptables backend the node's kubelet uses.
set -eu
hint='^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY) '
if iptables-nft-save -t mangle 2>/dev/null | grep -Eq "$hint"; then
  mode=nft
elif iptables-legacy-save -t mangle 2>/dev/null | grep -Eq "$hint"; then
  mode=legacy
else
  legacy=$(iptables-legacy-save 2>/dev/null | grep -c '^-' || true)
  nft=$(iptables-nft-save 2>/dev/null | grep -c '^-' || true)
  if [ "$legacy" -gt "$nft" ]; then mode=legacy; else mode=nft; fi
fi
for cmd in {linked}; do
  ln -sf "xtables-$mode-multi" "/usr/sbin/$cmd"
done
exec "/usr/sbin/$(basename "$0")" "$@"
""".format(linked=" ".join(_LINKED))


@dataclass(frozen=True)
class ComponentImage:
    """One image to pre-load: its ref, its layers (callables writing tars) and config."""

    name: str
    ref: str
    binary: Path
    base_packages: tuple[str, ...] = ()
    extra_entries: tuple[FileEntry, ...] = ()
    #: The binary as entrypoint, for images run with arguments only (CoreDNS).
    binary_entrypoint: bool = False

    @property
    def path_in_image(self) -> str:
        """Where the binary is in the image (absolute)."""
        return f"/usr/local/bin/{self.binary.name}"

    def config(self, source: str) -> ImageConfig:
        return ImageConfig(
            entrypoint=(self.path_in_image,) if self.binary_entrypoint else None,
            labels={
                "org.opencontainers.image.title": self.name,
                "io.pyodo.built-from": source,
            },
        )

    def write_top_layer(self, out: Path) -> None:
        """The binary at /usr/local/bin plus the directories static binaries expect."""
        entries = [
            FileEntry("etc", is_dir=True, mode=0o755),
            FileEntry("tmp", is_dir=True, mode=0o1777),
            FileEntry("var", is_dir=True, mode=0o755),
            FileEntry("usr", is_dir=True, mode=0o755),
            FileEntry("usr/local", is_dir=True, mode=0o755),
            FileEntry("usr/local/bin", is_dir=True, mode=0o755),
            FileEntry(f"usr/local/bin/{self.binary.name}", source=self.binary, mode=0o755),
            *self.extra_entries,
        ]
        write_layer(out, entries)


def etcd_tag(etcd_version: str) -> str:
    """kubeadm's etcd image tag for an etcd release (``v3.6.8`` -> ``3.6.8-0``)."""
    return f"{etcd_version.lstrip('v')}-0"


def _proxy_entries() -> tuple[FileEntry, ...]:
    entries = [
        FileEntry("usr/sbin", is_dir=True, mode=0o755),
        FileEntry("usr/sbin/iptables-wrapper", data=IPTABLES_WRAPPER.encode(), mode=0o755),
    ]
    entries += [FileEntry(f"usr/sbin/{cmd}", link_target="iptables-wrapper") for cmd in _LINKED]
    return tuple(entries)


def coredns_image(binary: Path, version: str) -> ComponentImage:
    """CoreDNS under the name kubeadm's Deployment uses (``registry.k8s.io/coredns/coredns``)."""
    return ComponentImage(
        "coredns", f"{REGISTRY}/coredns/coredns:{version}", binary, binary_entrypoint=True
    )


def component_images(
    kube_bin: Path,
    kube_version: str,
    etcd_binary: Path,
    etcd_version: str,
    coredns_binary: Path,
    coredns_version: str,
) -> list[ComponentImage]:
    """The images kubeadm's manifests name, from the given binaries."""
    images = [
        ComponentImage(name, f"{REGISTRY}/{name}:{kube_version}", kube_bin / name)
        for name in CONTROL_PLANE
    ]
    images.append(
        ComponentImage(
            "kube-proxy",
            f"{REGISTRY}/kube-proxy:{kube_version}",
            kube_bin / "kube-proxy",
            base_packages=KUBE_PROXY_PACKAGES,
            extra_entries=_proxy_entries(),
        )
    )
    images.append(ComponentImage("etcd", f"{REGISTRY}/etcd:{etcd_tag(etcd_version)}", etcd_binary))
    images.append(coredns_image(coredns_binary, coredns_version))
    return images
