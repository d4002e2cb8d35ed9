"""The local cluster's images: built or taken from the cache, imported into its containerd.

No image can be pulled on these machines, so the sandbox (pause) image, pyodo's init and
builder images and, with cluster DNS, CoreDNS are all built here (:mod:`.ctrimages` imports
each once per digest).
"""

from __future__ import annotations

from pathlib import Path

from pyodo_tasks.cluster.provider import ImageArchiveLike
from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.testbed import clusterdns, ctrimages
from pyodo_tasks.testbed.layout import Layout
from pyodo_tasks.testbed.progress import Progress


def image_record(lay: Layout) -> Path:
    """What :mod:`.ctrimages` imported, next to containerd's root (both survive ``down``)."""
    return lay.containerd_root.parent / "imported-images.json"


def image_archives(
    lay: Layout, images: list[str] | None, cluster_dns: bool, progress: Progress
) -> list[ImageArchiveLike]:
    """Build or fetch from cache every image the cluster needs (pause first)."""
    progress("images: pause, init, builders (built once, cached)")
    try:
        from pyodo_tasks.testbed.images import ensure_images
    except ImportError as exc:
        raise ClusterSetupError(
            "pyodo_tasks.testbed.images.ensure_images is not available, so no sandbox "
            "(pause) image can be built; no image can be pulled on this machine"
        ) from exc
    log = progress
    archives: list[ImageArchiveLike] = list(ensure_images(images, log=log).values())
    refs = {a.ref for a in archives}
    if lay.sandbox_image not in refs:
        sandbox = [_image_name(lay.sandbox_image)]
        archives += list(ensure_images(sandbox, log=log).values())
    if cluster_dns:
        with progress.phase("CoreDNS image (built from the Go module proxy once)"):
            archives.append(clusterdns.coredns_archive(log))
    return archives


def import_images(lay: Layout, archives: list[ImageArchiveLike], progress: Progress) -> None:
    for archive in archives:
        ctrimages.import_archive(lay.containerd_socket, archive, image_record(lay), progress)


def _image_name(ref: str) -> str:
    """``localhost/pyodo/pause:3.10`` -> ``pause`` (the name ``ensure_images`` takes)."""
    return ref.rsplit("/", 1)[-1].split(":", 1)[0]
