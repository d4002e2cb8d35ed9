"""The options of pyodo's doit tasks, in one place for the tasks and their stand-ins.

doit hands an option only to the task it was given to; a task whose definition could not be
made (:func:`pyodo_tasks.tasks.guard.failing_tasks`) must still accept the same options, or the
command line would fail to parse before the real error could be shown.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CLEANUP_PARAM",
    "DEBUG_PARAM",
    "JSON_PARAM",
    "LINES_PARAM",
    "SECONDS_PARAM",
    "TARGET_OPTIONS",
    "TARGET_PARAMS",
    "TASK_PARAMS",
    "TASK_POS_ARGS",
    "target_options",
]

Param = dict[str, Any]

#: ``--namespace/--context/--kubeconfig`` on every user-facing task. doit hands an option only to
#: the task it was given to, so ``pyodo_tasks.dodo`` also reads them for the whole graph (see
#: :func:`target_options`); declaring them here makes doit accept and document them.
TARGET_PARAMS: list[Param] = [
    {
        "name": name,
        "long": name,
        "type": str,
        "default": "",
        "help": f"the {name} to use (default: kubectl's; env PYODO_{name.upper()})",
    }
    for name in ("namespace", "context", "kubeconfig")
]
TARGET_OPTIONS = tuple(p["name"] for p in TARGET_PARAMS)

SECONDS_PARAM: Param = {
    "name": "seconds",
    "long": "seconds",
    "type": float,
    "default": 0,
    "help": "stop after this many seconds (0: until Ctrl-C)",
}
LINES_PARAM: Param = {
    "name": "lines",
    "long": "lines",
    "type": int,
    "default": 100,
    "help": "how many lines",
}
CLEANUP_PARAM: Param = {
    "name": "cleanup",
    "long": "cleanup",
    "type": bool,
    "default": False,
    "help": "delete the component on exit (default: keep it running)",
}
DEBUG_PARAM: Param = {
    "name": "debug",
    "long": "debug",
    "type": bool,
    "default": False,
    "help": "run the devfile's debug command and forward its debug endpoint",
}
JSON_PARAM: Param = {
    "name": "as_json",
    "long": "json",
    "type": bool,
    "default": False,
    "help": "print one JSON document instead of text",
}

#: Every task of a component, in graph order, with its options.
TASK_PARAMS: dict[str, list[Param]] = {
    "create_resources": [],
    "wait_ready": [],
    "index": [],
    "copy": [],
    "assemble_and_restart": [],
    "push": TARGET_PARAMS,
    "forward": [*TARGET_PARAMS, SECONDS_PARAM],
    "delete": TARGET_PARAMS,
    "logs": [*TARGET_PARAMS, LINES_PARAM],
    "verify": TARGET_PARAMS,
    "why": [*TARGET_PARAMS, JSON_PARAM],
    "dev": [*TARGET_PARAMS, SECONDS_PARAM, CLEANUP_PARAM, DEBUG_PARAM],
}
#: Tasks taking positional arguments, and the action parameter receiving them (doit's
#: ``pos_arg``): ``doit why server.js src/``.
TASK_POS_ARGS: dict[str, str] = {"why": "paths"}


def target_options(argv: list[str]) -> dict[str, str]:
    """``--namespace X`` / ``--namespace=X`` (and context, kubeconfig) from a doit command line.

    The one place pyodo reads doit's command line itself, and why: ``doit push --namespace dev``
    must reach the whole graph (``create_resources``, ``wait_ready``, ``copy``… and their
    ``uptodate`` checks, built when the tasks are loaded), but doit hands a task's option only
    to that task's actions, at run time. doit 0.37 has no public way around it: ``get_var``
    covers ``name=value`` variables only, and ``@task_params`` parses only the options after the
    task *creator's* own name (``pyodo``, never typed) and cannot be combined with the tasks'
    ``params`` that make doit accept and document the options (pydoit/doit#273 and #324 ask
    for global options; the maintainers point to ``get_var``). doit still validates the
    options itself; this only reads their values.
    """
    found: dict[str, str] = {}
    for i, arg in enumerate(argv):
        for name in TARGET_OPTIONS:
            flag = f"--{name}"
            if arg.startswith(flag + "="):
                found[name] = arg[len(flag) + 1 :]
            elif arg == flag and i + 1 < len(argv):
                found[name] = argv[i + 1]
    return found
