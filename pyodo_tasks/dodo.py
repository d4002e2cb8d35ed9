"""Everything a component directory's ``dodo.py`` needs, in one star import::

    from pyodo_tasks.dodo import *  # noqa: F403

Then ``doit push``, ``doit forward``, ``doit delete``, ``doit logs`` and ``doit list`` work in that
directory. The target follows kubectl (current context and its namespace), overridden by
``PYODO_CONTEXT``/``PYODO_NAMESPACE``/``PYODO_KUBECONFIG`` and, above those, by the tasks'
options, ``doit push --namespace dev --context kind-pyodo`` (doit variables, ``doit push
namespace=dev``, work too). Image overrides:
``PYODO_IMAGE_<CONTAINER>=ref`` or ``doit push image.<container>=ref``. Registries for
``parent: {id: …}``: ``PYODO_DEVFILE_REGISTRY`` or ``doit push devfile_registry=URL|DIR``.

doit's state goes to ``.pyodo/doit.sqlite`` with the sqlite3 backend: the default dbm falls back
to ``dbm.dumb`` here, which can corrupt under concurrent access.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyodo_tasks.core.gc import gc_task
from pyodo_tasks.core.kube import Target
from pyodo_tasks.tasks import ComponentTasks, target_options

__all__ = ["DOIT_CONFIG", "task_gc", "task_pyodo"]

Path(".pyodo").mkdir(exist_ok=True)

DOIT_CONFIG: dict[str, Any] = {
    "dep_file": ".pyodo/doit.sqlite",
    "backend": "sqlite3",
    "default_tasks": ["push"],
    "verbosity": 2,
}


def _cmdline_vars() -> dict[str, str]:
    """doit's command-line variables (``name=value`` after the task names)."""
    from doit import doit_cmd

    return dict(doit_cmd._CMDLINE_VARS or {})  # doit offers get_var() but no listing


def _target() -> Target:
    """Options (``--namespace``) over variables (``namespace=``) over ``PYODO_*`` over kubectl."""
    explicit = {**_cmdline_vars(), **target_options(sys.argv[1:])}
    return Target.from_env(
        kubeconfig=explicit.get("kubeconfig") or None,
        context=explicit.get("context") or None,
        namespace=explicit.get("namespace") or None,
    )


def _component_tasks() -> ComponentTasks:
    variables = _cmdline_vars()
    target = _target()
    overrides = {
        key.removeprefix("image."): value
        for key, value in variables.items()
        if key.startswith("image.")
    }
    return ComponentTasks(
        ".",
        target=target,
        image_overrides=overrides,
        devfile_registry=variables.get("devfile_registry") or None,
    )


def task_pyodo() -> Iterator[dict[str, Any]]:
    """pyodo's tasks for this component (each yielded with its own basename)."""
    yield from _component_tasks().tasks()


def task_gc() -> dict[str, Any]:
    """Delete what killed test runs left behind once its expiry label has passed."""
    return gc_task(_target())
