"""Finding and loading a component's devfile: file → YAML → parser → image overrides.

Why apart from the parser: this is the part that touches the file system and the environment
(and, for ``parent:``, the network); the parser stays a pure function of the YAML it is given.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import yaml

from pyodo_tasks.core.devfile.model import Devfile, image_override_env_name
from pyodo_tasks.core.devfile.parser import Parser
from pyodo_tasks.errors import DevfileError

__all__ = ["DEVFILE_NAMES", "find_devfile", "load_devfile"]

DEVFILE_NAMES = ("devfile.yaml", ".devfile.yaml", "devfile.yml", ".devfile.yml")


def find_devfile(directory: Path | str) -> Path:
    """The devfile of a component directory (or the file itself when given one)."""
    path = Path(directory)
    if path.is_file():
        return path
    for name in DEVFILE_NAMES:
        candidate = path / name
        if candidate.is_file():
            return candidate
    raise DevfileError(
        path, "", "no devfile.yaml found", "create one, or point at the component's directory"
    )


def load_devfile(
    path: Path | str,
    *,
    image_overrides: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Devfile:
    """Read and validate a component's devfile.

    ``path`` is the component directory or the devfile itself. Images are overridden, per
    container component, by ``image_overrides`` first, then ``PYODO_IMAGE_<CONTAINER>``
    variables in ``environ`` (default: the process environment) — so a devfile that names a
    registry image can run on a locally built one.
    """
    file = find_devfile(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise DevfileError(file, "", f"cannot read: {exc.strerror}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise DevfileError(file, where, f"invalid YAML: {problem}", "fix the syntax") from exc
    devfile = Parser(file).parse(raw)
    environ = os.environ if environ is None else environ
    overrides = {
        c.name: environ[image_override_env_name(c.name)]
        for c in devfile.containers
        if environ.get(image_override_env_name(c.name))
    }
    overrides.update(image_overrides or {})
    return devfile.with_images(overrides) if overrides else devfile
