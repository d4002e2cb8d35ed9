"""Write docker-archive image tarballs directly, with no daemon.

Why no daemon: a docker-archive is a tar of layer tars, one config JSON and ``manifest.json``.
Writing it in Python needs no dockerd/containerd running, no iptables or bridge left behind, and
works the same on a fresh CI machine; ``docker load``, ``ctr -n k8s.io images import`` and
``kind load image-archive`` all read this (``docker save``'s classic) layout.

Layers are uncompressed tars whose sha256 is the config's ``diff_id``; owners are numeric only
(names blank) so the image's own ``/etc/passwd`` decides, never the build host's.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pyodo_tasks.errors import ClusterSetupError

__all__ = [
    "FileEntry",
    "ImageConfig",
    "host_architecture",
    "sha256_file",
    "tar_directory",
    "write_docker_archive",
    "write_layer",
]

_CHUNK = 1 << 20
#: A fixed creation time keeps configs (and so image IDs) stable for unchanged recipes.
_CREATED = "2024-01-01T00:00:00Z"


def host_architecture() -> str:
    """The OCI architecture name of this machine (images must match it to be imported)."""
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks (layers can be hundreds of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class FileEntry:
    """One entry of a layer built from memory: a file (``data``), directory or symlink."""

    path: str
    data: bytes | None = None
    mode: int = 0o644
    is_dir: bool = False
    link_target: str | None = None
    source: Path | None = None  # copy this file's bytes instead of ``data``


def _numeric_owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uname = ""
    info.gname = ""
    return info


def write_layer(out: Path, entries: Iterable[FileEntry]) -> None:
    """Write a layer tar from in-memory entries; parents must be listed before children."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.path.strip("/"))
            info.mode = entry.mode
            info.mtime = 0
            if entry.is_dir:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif entry.link_target is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = entry.link_target
                tar.addfile(info)
            elif entry.source is not None:
                info.size = entry.source.stat().st_size
                with entry.source.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                data = entry.data or b""
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def tar_directory(
    root: Path, out: Path, exclude_contents_of: Iterable[str] = ("dev", "proc", "sys")
) -> None:
    """Write ``root`` as a layer tar: paths relative to root, hard links and symlinks kept.

    The directories in ``exclude_contents_of`` are kept empty: a runtime mounts its own /dev,
    /proc and /sys, and device nodes in a layer break rootless and overlay setups.
    """
    excluded = {name.strip("/") for name in exclude_contents_of}

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        parts = info.name.split("/", 1)
        if len(parts) == 2 and parts[0] in excluded:
            return None
        return _numeric_owner(info)

    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for child in sorted(os.listdir(root)):
            tar.add(root / child, arcname=child, recursive=True, filter=keep)


@dataclass(frozen=True)
class ImageConfig:
    """The runtime part of an image config (what a Containerfile's ENV/CMD/... would set)."""

    env: tuple[str, ...] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    working_dir: str = "/"
    user: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """The ``config`` object of the image config JSON."""
        cfg: dict[str, object] = {"Env": list(self.env), "WorkingDir": self.working_dir}
        if self.cmd is not None:
            cfg["Cmd"] = list(self.cmd)
        if self.entrypoint is not None:
            cfg["Entrypoint"] = list(self.entrypoint)
        if self.user:
            cfg["User"] = self.user
        if self.labels:
            cfg["Labels"] = dict(sorted(self.labels.items()))
        return cfg


def _add_file(tar: tarfile.TarFile, name: str, path: Path, digest: hashlib._Hash) -> None:
    """Add ``path`` as ``name`` while feeding its bytes to ``digest`` (one read pass)."""

    class _Hashing(io.RawIOBase):
        def __init__(self, handle: io.BufferedReader) -> None:
            self._handle = handle

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            data = self._handle.read(size)
            digest.update(data)
            return data

    info = tarfile.TarInfo(name)
    info.size = path.stat().st_size
    info.mode = 0o644
    with path.open("rb") as handle:
        tar.addfile(info, _Hashing(handle))


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def write_docker_archive(
    out: Path,
    ref: str,
    layers: list[Path],
    config: ImageConfig,
    history: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> str:
    """Write a docker-archive for ``ref`` with ``layers`` (uncompressed tars, base first).

    Written to a temporary name and renamed, so a crash never leaves a half archive under the
    cached name. Returns the image ID (``sha256:`` of the config).
    """
    if not layers:
        raise ClusterSetupError(f"image {ref}: no layers to write")
    if ":" not in ref.rsplit("/", 1)[-1]:
        raise ClusterSetupError(f"image ref {ref!r} needs a tag (name:tag)")
    tmp = out.with_name(out.name + ".part")
    diff_ids: list[str] = []
    layer_names: list[str] = []
    try:
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            for layer in layers:
                if progress:
                    progress(f"adding layer {layer.name} ({layer.stat().st_size >> 20} MiB)")
                digest = hashlib.sha256()
                # The directory name is only a path in the archive; docker save uses the layer
                # ID, any unique name works. Content addressing happens on load.
                name = f"layer{len(layer_names)}/layer.tar"
                _add_file(tar, name, layer, digest)
                diff_ids.append(f"sha256:{digest.hexdigest()}")
                layer_names.append(name)
            config_doc = {
                "architecture": host_architecture(),
                "os": "linux",
                "created": _CREATED,
                "config": config.to_json(),
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "history": [
                    {"created": _CREATED, "created_by": step}
                    for step in (history or [f"pyodo layer {i}" for i in range(len(layers))])
                ],
            }
            config_bytes = json.dumps(config_doc, sort_keys=True).encode()
            config_hex = hashlib.sha256(config_bytes).hexdigest()
            _add_bytes(tar, f"{config_hex}.json", config_bytes)
            manifest = [{"Config": f"{config_hex}.json", "RepoTags": [ref], "Layers": layer_names}]
            _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())
        os.replace(tmp, out)
    except OSError as exc:
        raise ClusterSetupError(f"cannot write image archive {out}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return f"sha256:{config_hex}"
