"""Finding and loading a component's devfile: file → YAML → parser → image overrides.

Why apart from the parser: this is the part that touches the file system and the environment
(and, for ``parent:``, the network: :mod:`.parents`, :mod:`.registry`); the parser stays a
function of the YAML it is given.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from pyodo_tasks.core.devfile.files import MAX_FILE_BYTES, UnreadableFile, read_text, what_it_is
from pyodo_tasks.core.devfile.model import Devfile, image_override_env_name
from pyodo_tasks.core.devfile.parents import resolve_parents
from pyodo_tasks.core.devfile.parser import Parser
from pyodo_tasks.core.devfile.registry import REGISTRY_ENV, registry_setting
from pyodo_tasks.errors import DevfileError

__all__ = ["DEVFILE_NAMES", "ImageOverrides", "chosen_commands", "find_devfile", "load_devfile"]

log = logging.getLogger("pyodo_tasks.devfile")

DEVFILE_NAMES = ("devfile.yaml", ".devfile.yaml", "devfile.yml", ".devfile.yml")
MAX_DEVFILE_BYTES = MAX_FILE_BYTES

#: Container name -> image; or a lookup by container name (None or "": no override), for a
#: source that can be asked for a name but cannot list what it holds (doit's ``get_var``).
ImageOverrides = Mapping[str, str] | Callable[[str], str | None]


def find_devfile(directory: Path | str) -> Path:
    """The devfile of a component directory (or the file itself when given one)."""
    path = Path(directory)
    if path.is_file():
        return path
    if os.path.lexists(path) and not path.is_dir():
        raise DevfileError(
            path, "", f"is {what_it_is(path)}, not a devfile", "point at a regular file"
        )
    for name in DEVFILE_NAMES:
        candidate = path / name
        if candidate.is_file():
            return candidate
        if os.path.lexists(candidate):
            raise DevfileError(
                candidate, "", f"is {what_it_is(candidate)}", "replace it with the devfile itself"
            )
    raise DevfileError(  # absolute: "." says nothing when doit runs in another directory
        path.absolute(),
        "",
        "no devfile.yaml found",
        "create one, or point at the component's directory",
    )


def _read_devfile(file: Path) -> str:
    """The devfile's text (a regular file, bounded, UTF-8: see :mod:`.files`)."""
    try:
        return read_text(file, MAX_DEVFILE_BYTES)
    except UnreadableFile as exc:
        raise DevfileError(file, exc.where, exc.problem, exc.fix) from exc


def load_devfile(
    path: Path | str,
    *,
    image_overrides: ImageOverrides | None = None,
    environ: Mapping[str, str] | None = None,
    registry: str | Sequence[str] | None = None,
) -> Devfile:
    """Read and validate a component's devfile, its ``parent:`` chain merged in.

    ``path`` is the component directory or the devfile itself. Images are overridden, per
    container component, by ``image_overrides`` (:data:`ImageOverrides`) first, then
    ``PYODO_IMAGE_<CONTAINER>`` variables in ``environ`` (default: the process environment) —
    so a devfile that names a registry image can run on a locally built one. Parents named by
    registry id are looked up in ``registry`` (URLs or local directories), else
    ``PYODO_DEVFILE_REGISTRY`` in ``environ``, before the devfile's own ``registryUrl``. What the
    user should hear (a name made valid, an ignored field) is in ``Devfile.notes`` and logged
    once as a warning.
    """
    file = find_devfile(path)
    text = _read_devfile(file)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise DevfileError(file, where, f"invalid YAML: {problem}", "fix the syntax") from exc
    except ValueError as exc:  # a timestamp YAML recognises but cannot build, e.g. 2020-13-45
        raise DevfileError(file, "", f"invalid YAML value: {exc}", "quote the value") from exc
    except RecursionError as exc:
        raise DevfileError(file, "", "invalid YAML: nested too deeply", "fix the syntax") from exc
    environ = os.environ if environ is None else environ
    registries = registry_setting(registry) or registry_setting(environ.get(REGISTRY_ENV))
    notes: list[str] = []
    raw = resolve_parents(raw, file, registries, notes)
    parser = Parser(file)
    parser.notes.extend(notes)
    devfile = parser.parse(raw, default_name=file.resolve().parent.name)
    for line in devfile.notes:
        log.warning("%s", line)
    overrides = {
        c.name: environ[image_override_env_name(c.name)]
        for c in devfile.containers
        if environ.get(image_override_env_name(c.name))
    }
    overrides.update(_given_overrides(image_overrides, devfile))
    return devfile.with_images(overrides) if overrides else devfile


def _given_overrides(given: ImageOverrides | None, devfile: Devfile) -> dict[str, str]:
    """A mapping as it is (a name that is no container is refused by ``with_images``); a lookup
    asked once per container of the devfile."""
    if given is None:
        return {}
    if callable(given):
        return {c.name: image for c in devfile.containers if (image := given(c.name))}
    return dict(given)


def chosen_commands(options: dict[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """``{kind: command id}`` for the groups a user picked a command of, as odo's
    ``--build-command``/``--run-command``: the render options' ``build_command``,
    ``run_command``, ``debug_command`` (popped: they shape the devfile, not the render) over
    ``PYODO_BUILD_COMMAND``, ``PYODO_RUN_COMMAND``, ``PYODO_DEBUG_COMMAND`` (doit's
    ``run_command=`` variable lands there)."""
    chosen: dict[str, str] = {}
    for kind in ("build", "run", "debug"):
        given = options.pop(f"{kind}_command", None) or environ.get(f"PYODO_{kind.upper()}_COMMAND")
        if given and str(given).strip():
            chosen[kind] = str(given).strip()
    return chosen
