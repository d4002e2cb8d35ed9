"""kind's own node files, read from the ``sigs.k8s.io/kind`` module at build time.

Why from the module: kind's base image (``images/base`` in the kind repository) is where the
entrypoint, the systemd units and the containerd config that ``kind create cluster`` relies on
live. The Go module proxy serves that tree with the kind release the CLI is built from, so the
node image takes kind's files from exactly the version that drives it; nothing is copied into
this repository.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pyodo_tasks import host
from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.testbed.images._system import find_go
from pyodo_tasks.testbed.versions import KIND_VERSION

__all__ = ["NODE_FILES", "NodeFile", "kind_module_dir", "node_files"]

BASE_FILES = "images/base/files"


@dataclass(frozen=True)
class NodeFile:
    """One file of kind's base image: where it is in the module, where it goes, its mode."""

    source: str
    target: str
    mode: int


#: kind's base Dockerfile ``COPY`` lines, file by file (the same modes: scripts 0755, else 0644).
NODE_FILES = (
    NodeFile("usr/local/bin/entrypoint", "usr/local/bin/entrypoint", 0o755),
    NodeFile("usr/local/bin/clean-install", "usr/local/bin/clean-install", 0o755),
    NodeFile("kind/bin/mount-product-files.sh", "kind/bin/mount-product-files.sh", 0o755),
    NodeFile("kind/bin/undo-mount-hacks.sh", "kind/bin/undo-mount-hacks.sh", 0o755),
    NodeFile("kind/bin/create-kubelet-cgroup-v2.sh", "kind/bin/create-kubelet-cgroup-v2.sh", 0o755),
    NodeFile("kind/README.txt", "kind/README.txt", 0o644),
    NodeFile("etc/crictl.yaml", "etc/crictl.yaml", 0o644),
    NodeFile("etc/containerd/config.toml", "etc/containerd/config.toml", 0o644),
    NodeFile("etc/default/kubelet", "etc/default/kubelet", 0o644),
    NodeFile(
        "etc/sysctl.d/10-network-security.conf", "etc/sysctl.d/10-network-security.conf", 0o644
    ),
    NodeFile("etc/sysctl.d/10-network-magic.conf", "etc/sysctl.d/10-network-magic.conf", 0o644),
    NodeFile("etc/systemd/system/kubelet.slice", "etc/systemd/system/kubelet.slice", 0o644),
    NodeFile("etc/systemd/system/kubelet.service", "etc/systemd/system/kubelet.service", 0o644),
    NodeFile(
        "etc/systemd/system/containerd.service", "etc/systemd/system/containerd.service", 0o644
    ),
    NodeFile(
        "etc/systemd/system/undo-mount-hacks.service",
        "etc/systemd/system/undo-mount-hacks.service",
        0o644,
    ),
    NodeFile(
        "etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
        "etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
        0o644,
    ),
    NodeFile(
        "etc/systemd/system/kubelet.service.d/11-kind.conf",
        "etc/systemd/system/kubelet.service.d/11-kind.conf",
        0o644,
    ),
)


def kind_module_dir(version: str = KIND_VERSION) -> Path:
    """The unpacked ``sigs.k8s.io/kind@version`` module (``go mod download``; cached by Go)."""
    out = host.run(
        [find_go(), "mod", "download", "-json", f"sigs.k8s.io/kind@{version}"],
        timeout=600,
        what=f"go mod download sigs.k8s.io/kind@{version}",
        env={"GOFLAGS": "-mod=mod", "GOWORK": "off"},
    ).stdout
    try:
        directory = Path(json.loads(out)["Dir"])
    except (ValueError, KeyError) as exc:
        raise ClusterSetupError(
            f"go mod download sigs.k8s.io/kind@{version}: {out[-300:]}"
        ) from exc
    if not (directory / BASE_FILES).is_dir():
        raise ClusterSetupError(
            f"{directory} has no {BASE_FILES}: kind {version} moved its node files; "
            "update pyodo_tasks/testbed/kindnode/kindsrc.py"
        )
    return directory


def node_files(version: str = KIND_VERSION) -> dict[NodeFile, bytes]:
    """Each of :data:`NODE_FILES` with its bytes from the kind module."""
    base = kind_module_dir(version) / BASE_FILES
    found: dict[NodeFile, bytes] = {}
    for entry in NODE_FILES:
        path = base / entry.source
        if not path.is_file():
            raise ClusterSetupError(f"kind {version} has no {BASE_FILES}/{entry.source}")
        found[entry] = path.read_bytes()
    return found
