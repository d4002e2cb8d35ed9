"""pyodo's images: sandbox (pause), init (odo's copy-supervisord content) and S2I builders.

``ensure_images()`` builds them from Debian packages, Go and gcc (nothing is pulled) as
docker-archive tarballs cached under ``~/.cache/pyodo/images``; ``contract`` holds the commands,
paths and env vars the pod renderer and the init image's scripts share.
"""

from __future__ import annotations

from pyodo_tasks.runtime.contract import (
    APP_CONTAINER_COMMAND,
    BUILDER_REFS,
    COPY_FILES_TO_VOLUME_COMMAND,
    COPY_SUPERVISORD_COMMAND,
    INIT_REF,
    PAUSE_REF,
)
from pyodo_tasks.testbed.images.build import IMAGE_NAMES, ImageArchive, ensure_images

__all__ = [
    "APP_CONTAINER_COMMAND",
    "BUILDER_REFS",
    "COPY_FILES_TO_VOLUME_COMMAND",
    "COPY_SUPERVISORD_COMMAND",
    "IMAGE_NAMES",
    "INIT_REF",
    "PAUSE_REF",
    "ImageArchive",
    "ensure_images",
]
