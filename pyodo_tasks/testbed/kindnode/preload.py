"""Pre-load images into a node root filesystem's containerd store, with no Docker involved.

Why a private containerd: kind's ``build node-image`` starts containerd inside a build container
and runs ``ctr images import``. The node runs Debian's containerd, the same package the host
has, so a short-lived host containerd whose ``root`` is the node's ``/var/lib/containerd`` writes
the identical store (content blobs + metadata) without a daemon or a container. Imports use
kind's flags: ``--no-unpack`` (the node's snapshotter unpacks on first use), ``--digests`` and
the CRI ``pinned`` label so the kubelet's image GC never removes them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from pyodo_tasks import host
from pyodo_tasks.errors import ClusterSetupError, WaitTimeout
from pyodo_tasks.testbed import procs, waits

__all__ = ["import_into_root"]

_READY_TIMEOUT = 30.0
_IMPORT_TIMEOUT = 600.0


def _config(root: Path, state: Path, socket: Path) -> str:
    return "\n".join(
        [
            "version = 2",
            f'root = "{root}"',
            f'state = "{state}"',
            # Only the content and metadata stores are needed: no CRI, no networking.
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
            "[grpc]",
            f'  address = "{socket}"',
            "[ttrpc]",
            f'  address = "{socket}.ttrpc"',
            "",
        ]
    )


def _wait_ready(daemon: procs.Daemon, socket: Path) -> None:
    try:
        waits.wait_for(
            lambda: waits.containerd_answers(socket),
            f"containerd for the image pre-load to answer on {socket}",
            _READY_TIMEOUT,
            interval=0.2,
            check=lambda: procs.ensure_alive(daemon),
        )
    except WaitTimeout as exc:  # a setup error, as every failure of the node image's build
        raise ClusterSetupError(str(exc)) from exc


def import_into_root(root: Path, archives: Sequence[Path], work: Path) -> list[str]:
    """Import docker-archives into containerd store ``root`` (namespace k8s.io); list refs."""
    state, socket = work / "state", work / "containerd.sock"
    state.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    config = work / "config.toml"
    config.write_text(_config(root, state, socket))
    binary = shutil.which("containerd")
    if binary is None:
        raise ClusterSetupError("containerd is not installed: it pre-loads the node's images")
    daemon = procs.Daemon("preload-containerd", [binary, "--config", str(config)], work, work)
    procs.start(daemon)
    try:
        _wait_ready(daemon, socket)
        ctr = ["ctr", "--address", os.fspath(socket), "--namespace", "k8s.io"]
        for archive in archives:
            host.run(
                [
                    *ctr,
                    "images",
                    "import",
                    "--label=io.cri-containerd.pinned=pinned",
                    "--all-platforms",
                    "--no-unpack",
                    "--digests",
                    archive,
                ],
                timeout=_IMPORT_TIMEOUT,
                what=f"pre-loading {archive.name}",
            )
        listed = host.run(
            [*ctr, "images", "list", "-q"], timeout=60, what="listing pre-loaded images"
        ).stdout
    finally:
        procs.stop(daemon, timeout=30)
    return [ref for ref in listed.split() if not ref.startswith(("sha256:", "import-"))]
