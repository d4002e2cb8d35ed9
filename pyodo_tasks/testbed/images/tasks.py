"""doit task ``init_image``: build the init image with docker (or podman) for users.

Why a task object and not ensure_images: users push to their own clusters and registries, so they
want the image in their local engine under a tag they can retag and push. The task stages the
same context ensure_images uses
(:func:`pyodo_tasks.testbed.images.stage.stage_init_context`) and runs
``<engine> build -f Containerfile <context>``. It is up to date while the recipe hash is unchanged
and the engine still has the image.

Wire it into a dodo file with ``from pyodo_tasks.testbed.images.tasks import init_image`` (doit
picks up objects with ``create_doit_tasks``) or ``yield from InitImage().tasks()`` in a ``task_*``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from doit.tools import config_changed

from pyodo_tasks import host
from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.runtime import contract
from pyodo_tasks.testbed.images._system import run
from pyodo_tasks.testbed.images.build import RECIPES, images_dir, recipe_digest
from pyodo_tasks.testbed.images.stage import CONTAINERFILE, PACKAGE_DIR, stage_init_context

__all__ = ["InitImage", "find_engine", "init_image"]

#: The repo's Containerfile (absent in an installed wheel; then CONTAINERFILE is written out).
REPO_CONTAINERFILE = PACKAGE_DIR.parents[2] / "Containerfile"


def find_engine() -> str:
    """docker when on PATH, else podman; ClusterSetupError when neither is."""
    for name in ("docker", "podman"):
        found = shutil.which(name)
        if found:
            return found
    raise ClusterSetupError("neither docker nor podman is on PATH: install one to build images")


class InitImage:
    """Yields the ``init_image`` doit task. ``tag`` defaults to the contract's INIT_REF."""

    def __init__(
        self, tag: str = contract.INIT_REF, engine: str | None = None, context: Path | None = None
    ) -> None:
        self.tag = tag
        self.engine = engine
        self.context = context or images_dir() / "context-init"

    def containerfile(self) -> Path:
        """The Containerfile to build with: the repo's, else one written next to the context."""
        if REPO_CONTAINERFILE.is_file():
            return REPO_CONTAINERFILE
        return self.context / "Containerfile"

    def _engine(self) -> str:
        return self.engine or find_engine()

    def build(self) -> None:
        """Stage the context and build it; raises ClusterSetupError on failure."""
        stage_init_context(self.context)
        if not (self.context / "Containerfile").read_text() == CONTAINERFILE:
            raise ClusterSetupError("staged Containerfile differs from pyodo's")
        output = run(
            [self._engine(), "build", "-f", self.containerfile(), "-t", self.tag, self.context],
            timeout=900,
            what=f"building {self.tag}",
        )
        print(output.rstrip())
        print(f"built {self.tag}")

    def image_present(self) -> bool:
        """doit ``uptodate`` check: the engine still has the tag (False when it cannot say)."""
        try:
            result = host.run(
                [self._engine(), "image", "inspect", self.tag],
                timeout=60,
                what=f"looking for image {self.tag}",
                check=False,
            )
        except ClusterSetupError:  # no engine, or it did not answer in time
            return False
        return result.returncode == 0

    def tasks(self) -> Iterator[dict[str, Any]]:
        """The ``init_image`` task dict."""
        recipe = RECIPES["init"]
        yield {
            "basename": "init_image",
            "doc": f"build the pyodo init image {self.tag} with docker/podman",
            "actions": [self.build],
            "file_dep": [os.fspath(p) for p in recipe.files],
            "uptodate": [
                config_changed({"recipe": recipe_digest(recipe), "tag": self.tag}),
                self.image_present,
            ],
            "verbosity": 2,
        }

    create_doit_tasks = tasks


#: Ready-made task object for dodo files.
init_image = InitImage()
