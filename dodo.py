"""doit tasks for working on pyodo itself (``doit list`` shows them)."""

from __future__ import annotations

DOIT_CONFIG = {"dep_file": ".doit.db", "backend": "sqlite3", "verbosity": 2}


def _cluster(command: str) -> bool:
    """Run one cluster CLI command in-process; False (task failed) on a non-zero exit."""
    from pyodo_tasks.cluster.__main__ import main

    return main([command]) == 0


def task_cluster_up():
    """Boot the local Kubernetes test cluster (cached build; returns when a pod runs)."""
    return {"actions": [(_cluster, ["up"])], "uptodate": [False], "verbosity": 2}


def task_cluster_down():
    """Tear the local test cluster down and restore the host."""
    return {"actions": [(_cluster, ["down"])], "uptodate": [False], "verbosity": 2}


def task_gc():
    """Delete namespaces and objects that killed test runs left, once their expiry passed."""
    from pyodo_tasks.tasks.gc import gc_task
    from pyodo_tasks.tasks.guard import guarded

    return guarded(gc_task())  # a failure is one line, not a traceback


def task_init_image():
    """Build the init image (tini, supervisor, scripts) with docker/podman; push=true pushes."""
    from pyodo_tasks.dodo import task_init_image as component_task

    return component_task()
