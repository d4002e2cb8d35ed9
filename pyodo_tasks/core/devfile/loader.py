"""Finding and loading a component's devfile: file → YAML → parser → image overrides.

Why apart from the parser: this is the part that touches the file system and the environment
(and, for ``parent:``, the network: :mod:`.parents`, :mod:`.registry`); the parser stays a
function of the YAML it is given.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from pyodo_tasks.core.devfile.model import Devfile, image_override_env_name
from pyodo_tasks.core.devfile.parents import resolve_parents
from pyodo_tasks.core.devfile.parser import Parser
from pyodo_tasks.core.devfile.registry import REGISTRY_ENV, registry_setting
from pyodo_tasks.errors import DevfileError

__all__ = ["DEVFILE_NAMES", "find_devfile", "load_devfile"]

log = logging.getLogger("pyodo_tasks.devfile")

DEVFILE_NAMES = ("devfile.yaml", ".devfile.yaml", "devfile.yml", ".devfile.yml")
#: Devfiles are a few KiB; a bigger one is the wrong file, and parsing it could take minutes.
MAX_DEVFILE_BYTES = 1 << 20


def find_devfile(directory: Path | str) -> Path:
    """The devfile of a component directory (or the file itself when given one)."""
    path = Path(directory)
    if path.is_file():
        return path
    if os.path.lexists(path) and not path.is_dir():
        raise DevfileError(path, "", f"is {_what(path)}, not a devfile", "point at a regular file")
    for name in DEVFILE_NAMES:
        candidate = path / name
        if candidate.is_file():
            return candidate
        if os.path.lexists(candidate):
            raise DevfileError(
                candidate, "", f"is {_what(candidate)}", "replace it with the devfile itself"
            )
    raise DevfileError(  # absolute: "." says nothing when doit runs in another directory
        path.absolute(),
        "",
        "no devfile.yaml found",
        "create one, or point at the component's directory",
    )


def _what(path: Path) -> str:
    """What a path that is not a regular file is, for the error naming it."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return "a symlink loop" if exc.errno == errno.ELOOP else "a broken symlink"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    return "not a regular file"


def _read_devfile(file: Path) -> str:
    """The devfile's text: a regular file of at most MAX_DEVFILE_BYTES, UTF-8 (BOM allowed).

    Opened non-blocking and checked with ``fstat`` on the open file: a named pipe put in its
    place would otherwise block the read forever, and a check before opening can be raced.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(file, flags)
    except OSError as exc:
        raise DevfileError(file, "", f"cannot read: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DevfileError(file, "", f"is {_what(file)}", "make it a regular file")
        data = f.read(MAX_DEVFILE_BYTES + 1)
    if len(data) > MAX_DEVFILE_BYTES:
        raise DevfileError(
            file, "", f"is larger than {MAX_DEVFILE_BYTES >> 20} MiB", "is it the right file?"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DevfileError(
            file,
            f"line {line}",
            f"not UTF-8 text (byte 0x{data[exc.start]:02x})",
            "save the file as UTF-8",
        ) from exc


def load_devfile(
    path: Path | str,
    *,
    image_overrides: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    registry: str | Sequence[str] | None = None,
) -> Devfile:
    """Read and validate a component's devfile, its ``parent:`` chain merged in.

    ``path`` is the component directory or the devfile itself. Images are overridden, per
    container component, by ``image_overrides`` first, then ``PYODO_IMAGE_<CONTAINER>``
    variables in ``environ`` (default: the process environment) — so a devfile that names a
    registry image can run on a locally built one. Parents named by registry id are looked up
    in ``registry`` (URLs or local directories), else ``PYODO_DEVFILE_REGISTRY`` in
    ``environ``, before the devfile's own ``registryUrl``. What the user should hear (a name
    made valid, an ignored field) is in ``Devfile.notes`` and logged once as a warning.
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
    overrides.update(image_overrides or {})
    return devfile.with_images(overrides) if overrides else devfile
