"""Import docker-archive tarballs into containerd's ``k8s.io`` namespace, once per digest.

No image can be pulled on these machines, so every image a pod uses (the sandbox image too)
must be imported. containerd's root lives in the cache, so imported images survive ``down``;
a record of (archive size, mtime, sha256) -> image digest lets a warm ``up`` skip the import
when containerd still holds that digest under that ref.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from pyodo_tasks import host
from pyodo_tasks.cluster.provider import ImageArchiveLike
from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.testbed.progress import Progress, as_progress

NAMESPACE = "k8s.io"


def ctr(socket: Path, args: list[str], timeout: float = 600) -> host.Result:
    """``ctr`` against our containerd; a non-zero exit is returned, not raised."""
    return host.run(
        ["ctr", "--address", str(socket), "-n", NAMESPACE, *args],
        timeout=timeout,
        what=f"ctr {args[0]} {args[1] if len(args) > 1 else ''}".rstrip(),
        check=False,
    )


def image_digests(socket: Path) -> dict[str, str]:
    """Map ref -> digest of every image in the ``k8s.io`` namespace."""
    proc = ctr(socket, ["images", "ls"])
    if proc.returncode != 0:
        raise ClusterSetupError(f"ctr images ls failed: {proc.stderr.strip()[-300:]}")
    out: dict[str, str] = {}
    for line in proc.stdout.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3 and fields[2].startswith("sha256:"):
            out[fields[0]] = fields[2]
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fingerprint(path: Path, known: dict | None) -> str:
    """sha256 of the archive, reusing the recorded one when size and mtime are unchanged."""
    st = path.stat()
    if known and known.get("size") == st.st_size and known.get("mtime_ns") == st.st_mtime_ns:
        return str(known["sha256"])
    return _sha256(path)


def import_archive(
    socket: Path,
    archive: ImageArchiveLike,
    record_file: Path,
    progress: Progress | Callable[[str], None] | None = None,
) -> bool:
    """Import ``archive`` unless containerd already has its ref at the recorded digest.

    Returns True when an import ran (a phase on ``progress``: a big builder takes a while).
    """
    path = Path(archive.path)
    if not path.is_file():
        raise ClusterSetupError(f"image archive {path} for {archive.ref} does not exist")
    try:
        records = json.loads(record_file.read_text())
    except (OSError, ValueError):
        records = {}
    known = records.get(archive.ref)
    sha = _fingerprint(path, known)
    present = image_digests(socket)
    if known and known.get("sha256") == sha and present.get(archive.ref) == known.get("digest"):
        return False
    size = path.stat().st_size >> 20
    with as_progress(progress).phase(f"importing image {archive.ref} ({size} MiB)"):
        proc = ctr(socket, ["images", "import", str(path)])
    if proc.returncode != 0:
        raise ClusterSetupError(
            f"ctr images import {path} failed: {(proc.stderr or proc.stdout).strip()[-400:]}"
        )
    digest = image_digests(socket).get(archive.ref)
    if digest is None:
        raise ClusterSetupError(
            f"imported {path} but containerd has no image named {archive.ref}; "
            "the archive's RepoTags must name that ref"
        )
    st = path.stat()
    records[archive.ref] = {
        "sha256": sha,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "digest": digest,
    }
    record_file.parent.mkdir(parents=True, exist_ok=True)
    record_file.write_text(json.dumps(records, indent=2))
    return True
