"""Everything a component directory's ``dodo.py`` needs, in one star import::

    from pyodo_tasks.dodo import *  # noqa: F403

Then ``doit push``, ``doit forward``, ``doit delete``, ``doit logs`` and ``doit list`` work in that
directory. The target follows kubectl (current context and its namespace), overridden by
``PYODO_CONTEXT``/``PYODO_NAMESPACE``/``PYODO_KUBECONFIG`` and, above those, by the tasks'
options, ``doit push --namespace dev --context kind-pyodo`` (doit variables, ``doit push
namespace=dev``, work too). Image overrides:
``PYODO_IMAGE_<CONTAINER>=ref`` or ``doit push image.<container>=ref`` (read for each container
the devfile has: a variable naming no container is ignored). Registries for
``parent: {id: …}``: ``PYODO_DEVFILE_REGISTRY`` or ``doit push devfile_registry=URL|DIR``. How
pyodo's agent reaches the pod: ``PYODO_LAYOUT`` or ``doit push layout=auto|inject|init``, the init
layout's image ``PYODO_INIT_IMAGE`` or ``doit push init_image=REF``. Debug mode (the devfile's
debug command, its debug endpoint forwarded): ``doit push debug=true``, ``doit dev --debug``.
Which command of a group runs when the devfile marks none default (odo's ``--run-command``):
``doit push run_command=ID`` (``build_command=``, ``debug_command=``; ``PYODO_RUN_COMMAND``...).

doit's state goes to ``.pyodo/doit.sqlite`` with the sqlite3 backend: the default dbm falls back
to ``dbm.dumb`` here, which can corrupt under concurrent access.

Nothing here may end in a traceback (doit prints one, exit status 3, for anything escaping a
task generator or this module's import): every task is guarded, a task generator that fails
yields stand-ins that fail with its one line, and a ``.pyodo`` that cannot be created is
reported the same way (see :mod:`pyodo_tasks.failures`).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from doit import get_var

from pyodo_tasks.core.kube import Target
from pyodo_tasks.errors import ConfigError
from pyodo_tasks.tasks import TASK_PARAMS, ComponentTasks, target_options
from pyodo_tasks.tasks.gc import gc_task
from pyodo_tasks.tasks.guard import Reporter, failing_tasks, guarded
from pyodo_tasks.tasks.init_image import init_image_task

__all__ = ["DOIT_CONFIG", "task_gc", "task_init_image", "task_pyodo"]


def _dep_file() -> tuple[str, ConfigError | None]:
    """doit's database in ``.pyodo``; when that cannot be made, a temporary one and the reason
    (doit opens its database before any task runs, and would fail with a traceback)."""
    try:
        Path(".pyodo").mkdir(exist_ok=True)
    except OSError as exc:
        error = ConfigError(
            f"{Path('.pyodo').absolute()}: cannot create pyodo's state directory: "
            f"{exc.strerror} (make the component directory writable, or remove what is there)"
        )
        return os.path.join(tempfile.gettempdir(), f"pyodo-doit-{os.getuid()}.sqlite"), error
    return ".pyodo/doit.sqlite", None


_DEP_FILE, _STATE_ERROR = _dep_file()

DOIT_CONFIG: dict[str, Any] = {
    "dep_file": _DEP_FILE,
    "backend": "sqlite3",
    "default_tasks": ["push"],
    "verbosity": 2,
    "reporter": Reporter,
}


def _variable(name: str) -> str | None:
    """doit's command-line variable ``name=value`` (``doit push namespace=dev``); None when it
    was not given or is empty. doit reads variables by name only, so every name pyodo knows is
    asked for: the target's, ``devfile_registry`` and ``image.<container>`` per container."""
    return get_var(name) or None


def _image_override(container: str) -> str | None:
    """``doit push image.<container>=ref``: asked once for each container of the devfile."""
    return _variable(f"image.{container}")


def _target() -> Target:
    """Options (``--namespace``) over variables (``namespace=``) over ``PYODO_*`` over kubectl."""
    options = target_options(sys.argv[1:])

    def chosen(name: str) -> str | None:
        return (options[name] if name in options else _variable(name)) or None

    return Target.from_env(
        kubeconfig=chosen("kubeconfig"), context=chosen("context"), namespace=chosen("namespace")
    )


def _flag(name: str) -> bool:
    """A doit variable meant as a switch: ``debug=true`` (also 1, yes, on)."""
    return (_variable(name) or "").strip().lower() in ("1", "true", "yes", "on")


def _component_tasks() -> ComponentTasks:
    return ComponentTasks(
        ".",
        target=_target(),
        image_overrides=_image_override,
        devfile_registry=_variable("devfile_registry"),
        settings={
            "PYODO_LAYOUT": _variable("layout"),
            "PYODO_INIT_IMAGE": _variable("init_image"),
            "PYODO_BUILD_COMMAND": _variable("build_command"),
            "PYODO_RUN_COMMAND": _variable("run_command"),
            "PYODO_DEBUG_COMMAND": _variable("debug_command"),
        },
        debug=_flag("debug"),
    )


def task_pyodo() -> Iterator[dict[str, Any]]:
    """pyodo's tasks for this component (each yielded with its own basename)."""
    try:
        if _STATE_ERROR is not None:
            raise _STATE_ERROR
        tasks = list(_component_tasks().tasks())
    except Exception as exc:  # reported when a task runs, as one line (see the module doc)
        tasks = list(failing_tasks(TASK_PARAMS.items(), exc))
    yield from tasks


def task_gc() -> dict[str, Any]:
    """Delete what killed test runs left behind once its expiry label has passed."""
    try:
        return guarded(gc_task(_target()))
    except Exception as exc:
        fallback = next(failing_tasks([("gc", [])], exc))
        del fallback["basename"]  # a task_* function's own name is the task's
        return fallback


def task_init_image() -> dict[str, Any]:
    """Build pyodo's init image with docker/podman (``tag=REF``), ``push=true`` pushes it; then
    ``PYODO_INIT_IMAGE=REF`` (or ``doit push init_image=REF``) runs seed 000's init containers."""
    try:
        return guarded(init_image_task(_variable("tag"), _flag("push")))
    except Exception as exc:
        fallback = next(failing_tasks([("init_image", [])], exc))
        del fallback["basename"]
        return fallback
