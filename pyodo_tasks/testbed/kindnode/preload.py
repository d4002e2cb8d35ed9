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
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.testbed.images._system import run

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


def _wait_ready(proc: subprocess.Popen[bytes], socket: Path, log: Path) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ClusterSetupError(
                f"containerd for the image pre-load exited {proc.returncode}: "
                + log.read_text(errors="replace")[-600:]
            )
        if socket.is_socket():
            probe = subprocess.run(
                ["ctr", "--address", str(socket), "version"],
                capture_output=True,
                timeout=10,
                check=False,
            )
            if probe.returncode == 0:
                return
        time.sleep(0.2)
    raise ClusterSetupError(f"containerd for the image pre-load did not answer on {socket}")


def import_into_root(root: Path, archives: Sequence[Path], work: Path) -> list[str]:
    """Import docker-archives into containerd store ``root`` (namespace k8s.io); list refs."""
    state, socket, log = work / "state", work / "containerd.sock", work / "containerd.log"
    state.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    config = work / "config.toml"
    config.write_text(_config(root, state, socket))
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["containerd", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        _wait_ready(proc, socket, log)
        ctr = ["ctr", "--address", os.fspath(socket), "--namespace", "k8s.io"]
        for archive in archives:
            run(
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
        listed = run([*ctr, "images", "list", "-q"], timeout=60, what="listing pre-loaded images")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    return [ref for ref in listed.split() if not ref.startswith(("sha256:", "import-"))]
