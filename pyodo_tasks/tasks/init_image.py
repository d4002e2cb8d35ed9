"""``doit init_image [tag=REF] [push=true]``: pyodo's init image for the init layout.

Why a task: a team that wants seed 000's pod on its own cluster builds the image once, pushes it
where the cluster pulls from, and sets ``PYODO_INIT_IMAGE``; doit keeps it up to date (rebuilt
when the runtime's sources, the tag or the push change, or the engine lost the image). The work
is :class:`pyodo_tasks.runtime.image.InitImage`.
"""

from __future__ import annotations

import os
from typing import Any

from doit.tools import config_changed

from pyodo_tasks.runtime import contract
from pyodo_tasks.runtime.image import InitImage
from pyodo_tasks.runtime.sources import runtime_digest, source_files

__all__ = ["init_image_task"]


def init_image_task(
    tag: str | None = None, push: bool = False, engine: str | None = None
) -> dict[str, Any]:
    """The ``init_image`` task dict (a ``task_*`` function returns it)."""
    image = InitImage(tag or contract.INIT_REF, push=push, engine=engine)
    key = {"runtime": runtime_digest(), "tag": image.tag, "push": push}
    return {
        "doc": f"build pyodo's init image ({image.tag}) with docker/podman; push=true pushes it",
        "actions": [image.build],
        "file_dep": [os.fspath(p) for p in source_files()],
        "uptodate": [config_changed(key), image.image_present],
        "verbosity": 2,
    }
