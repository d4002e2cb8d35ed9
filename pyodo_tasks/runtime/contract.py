"""The contract between pyodo's pod renderer and its runtime: refs, commands, mounts, env vars.

Why a module of constants: the renderer (``core/render.py``) and the runtime's scripts
(``runtime/init/``) must agree on every path and variable; keeping them here, next to the scripts
they describe, lets unit tests check the two against each other.

Two layouts put the runtime at ``/opt/odo`` (:data:`LAYOUTS`):

* ``inject`` (works on any cluster): no init image. The app container starts with
  :data:`INJECT_WAIT_COMMAND`, the image's ``sh`` waiting for ``/opt/odo/bin/supervisor``; pyodo
  uploads the runtime through an exec (``core/inject.py``, once per pod) and the loop then
  execs the supervisor under its own ``init`` mode (tini's job). Needs ``sh`` and ``cat``
  in the app image.
* ``init`` (seed 000's pod, where the init image can be pulled):

* init container ``copy-supervisord`` (image :data:`INIT_REF`, emptyDir at :data:`ODO_MOUNT`)
  runs :data:`COPY_SUPERVISORD_COMMAND`: copies the init image's :data:`INIT_CONTENT_DIR` onto the
  emptyDir (busybox ``cp -a`` keeps modes; the init image is ``FROM scratch`` so it has no other
  tool).
* init container ``copy-files-to-volume`` (the builder image, PVC ``<component>-s2idata`` at
  :data:`APP_ROOT_INIT_MOUNT`) runs :data:`COPY_FILES_TO_VOLUME_COMMAND`: copies the builder's
  ``/opt/app-root/.`` onto the PVC once; a marker file keeps a reused PVC's build output.
* the app container (builder image, emptyDir at :data:`ODO_MOUNT`, PVC at :data:`APP_ROOT`) runs
  :data:`APP_CONTAINER_COMMAND`: ``tini`` as PID 1 (reaps orphans) starts pyodo's supervisor,
  which starts the app only after the first successful ``assemble-and-restart``.

Scripts (``/opt/odo/bin``) are POSIX sh run by ``/opt/odo/bin/busybox sh`` (their shebang), so
they work in any image; devfile command lines run with the image's ``/bin/sh`` (busybox's when the
image has none).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "AGENT_COMMAND",
    "APP_CONTAINER_COMMAND",
    "APP_ROOT",
    "APP_ROOT_INIT_MOUNT",
    "APP_ROOT_MARKER",
    "ASSEMBLE_AND_RESTART_COMMAND",
    "BUILDER_REFS",
    "COPY_FILES_TO_VOLUME_COMMAND",
    "COPY_SUPERVISORD_COMMAND",
    "CTL_COMMAND",
    "DEFAULT_S2I_SCRIPTS",
    "DEFAULT_SRC",
    "ENV_COMMAND_BUILD",
    "ENV_COMMAND_BUILD_WORKING_DIR",
    "ENV_COMMAND_DEBUG",
    "ENV_COMMAND_DEBUG_WORKING_DIR",
    "ENV_COMMAND_RUN",
    "ENV_COMMAND_RUN_WORKING_DIR",
    "ENV_DEBUG",
    "ENV_DEBUG_PORT",
    "ENV_HOT_RELOAD",
    "ENV_LANGUAGE",
    "ENV_S2I_SCRIPTS",
    "ENV_SRC",
    "ENV_START",
    "INIT_CONTENT_DIR",
    "INIT_REF",
    "INJECT_WAIT_COMMAND",
    "LAYOUTS",
    "LAYOUT_INIT",
    "LAYOUT_INJECT",
    "ODO_MOUNT",
    "PAUSE_REF",
    "RUNTIME_ANNOTATION",
    "RUNTIME_MARKER_PREFIX",
    "S2I_SCRIPTS_LABEL",
    "SCRIPT_ENV_VARS",
]

#: Where the emptyDir with the init image's files is mounted (init container and app container).
ODO_MOUNT: Final = "/opt/odo"
#: Where the init image keeps its files (copied onto the emptyDir by ``copy-supervisord``).
INIT_CONTENT_DIR: Final = "/opt/odo-init"
#: The builder's app root; the ``<component>-s2idata`` PVC is mounted here in the app container.
APP_ROOT: Final = "/opt/app-root"
#: Where ``copy-files-to-volume`` mounts the PVC.
APP_ROOT_INIT_MOUNT: Final = "/mnt"
#: Written onto the PVC after the first copy; its presence means "already initialised".
APP_ROOT_MARKER: Final = ".pyodo-app-root-initialised"

PAUSE_REF: Final = "localhost/pyodo/pause:3.10"
#: 0.2.0: the supervisor gained `agent` mode (one exec stream per container, core/agent.py).
INIT_REF: Final = "localhost/pyodo/init:0.2.0"
BUILDER_REFS: Final = {
    "builder-nodejs": "localhost/pyodo/builder-nodejs:bookworm",
    # A new tag when an image's packages change (debugpy here): two recipes under one tag would
    # replace each other's import on a cluster shared by checkouts of different versions.
    "builder-python": "localhost/pyodo/builder-python:bookworm-debugpy",
    "builder-java": "localhost/pyodo/builder-java:bookworm",
}

#: ``copy-supervisord``: run in the init image. ``cp -a SRC/. DEST/`` copies the directory's
#: contents (modes, symlinks) onto the emptyDir, overwriting what a previous run left.
COPY_SUPERVISORD_COMMAND: Final = [
    f"{INIT_CONTENT_DIR}/bin/busybox",
    "cp",
    "-a",
    f"{INIT_CONTENT_DIR}/.",
    f"{ODO_MOUNT}/",
]

#: ``copy-files-to-volume``: run in the builder image (which has sh and cp). Copies only when the
#: PVC has no marker, so a PVC reused by a new pod keeps the developer's build output; an
#: interrupted copy leaves no marker and is redone.
COPY_FILES_TO_VOLUME_COMMAND: Final = [
    "/bin/sh",
    "-c",
    f"if [ -e {APP_ROOT_INIT_MOUNT}/{APP_ROOT_MARKER} ]; then"
    f" echo '{APP_ROOT_INIT_MOUNT} already initialised';"
    f" else cp -a {APP_ROOT}/. {APP_ROOT_INIT_MOUNT}/"
    f" && touch {APP_ROOT_INIT_MOUNT}/{APP_ROOT_MARKER}; fi",
]

#: The app container's command: tini (PID 1, ``-s`` subreaper so orphans are reaped even when it
#: is not PID 1) runs pyodo's supervisor with its configuration.
APP_CONTAINER_COMMAND: Final = [
    f"{ODO_MOUNT}/bin/tini",
    "-s",
    "--",
    f"{ODO_MOUNT}/bin/supervisor",
    "-c",
    f"{ODO_MOUNT}/conf/supervisor.conf",
]

#: What pyodo execs after a copy. Exit 0: built and app RUNNING; non-zero: the build's exit code
#: (app untouched) or 1 when the app died within ``startsecs`` of the restart.
ASSEMBLE_AND_RESTART_COMMAND: Final = [f"{ODO_MOUNT}/bin/assemble-and-restart"]
#: The resident agent (init image 0.2.0+): exec'd once per app container, kept open; one request
#: per edit carries the change set and the build-and-restart (core/agent.py). Absent from older
#: init images: the exec fails with "not found" and pyodo falls back to one exec per step.
AGENT_COMMAND: Final = [f"{ODO_MOUNT}/bin/agent"]
#: ``CTL_COMMAND + ["status"]`` prints ``RUNNING pid=N restarts=N`` / ``STOPPED`` / ...
CTL_COMMAND: Final = [f"{ODO_MOUNT}/bin/ctl"]

#: The two ways the runtime reaches ``/opt/odo`` (module doc).
LAYOUT_INJECT: Final = "inject"
LAYOUT_INIT: Final = "init"
LAYOUTS: Final = (LAYOUT_INJECT, LAYOUT_INIT)
#: On the pod template in the inject layout: the runtime's digest, so a pyodo with another
#: runtime rolls the pod (its PID 1 is the supervisor) instead of mixing versions.
RUNTIME_ANNOTATION: Final = "pyodo.dev/runtime"
#: ``/opt/odo/.runtime-<digest>``: written last by ``supervisor install``.
RUNTIME_MARKER_PREFIX: Final = ".runtime-"

#: The app container's command in the inject layout: wait (with the image's sh) until pyodo
#: has put the supervisor there, then run it as in the init layout, under its own ``init`` mode
#: instead of tini. TERM while waiting ends the container at once.
INJECT_WAIT_COMMAND: Final = [
    "/bin/sh",
    "-c",
    "trap 'exit 0' TERM INT; "
    f"while [ ! -x {ODO_MOUNT}/bin/supervisor ]; do sleep 0.1 2>/dev/null || sleep 1; done; "
    f"exec {ODO_MOUNT}/bin/supervisor init -- {ODO_MOUNT}/bin/supervisor"
    f" -c {ODO_MOUNT}/conf/supervisor.conf",
]

# Environment variables the renderer sets on the app container (odo 2 style).
ENV_COMMAND_BUILD: Final = "PYODO_COMMAND_BUILD"
ENV_COMMAND_BUILD_WORKING_DIR: Final = "PYODO_COMMAND_BUILD_WORKING_DIR"
ENV_COMMAND_RUN: Final = "PYODO_COMMAND_RUN"
ENV_COMMAND_RUN_WORKING_DIR: Final = "PYODO_COMMAND_RUN_WORKING_DIR"
ENV_COMMAND_DEBUG: Final = "PYODO_COMMAND_DEBUG"
ENV_COMMAND_DEBUG_WORKING_DIR: Final = "PYODO_COMMAND_DEBUG_WORKING_DIR"
ENV_DEBUG: Final = "PYODO_DEBUG"
#: "true" when the devfile's run command is ``hotReloadCapable``: no restart after a sync.
ENV_HOT_RELOAD: Final = "PYODO_HOT_RELOAD"
#: "false" when the devfile has no run command: build, start nothing, say so (the devfile's
#: ``NO_RUN_COMMAND`` line, which ``assemble-and-restart`` prints word for word).
ENV_START: Final = "PYODO_START"
ENV_DEBUG_PORT: Final = "DEBUG_PORT"
ENV_LANGUAGE: Final = "PYODO_LANGUAGE"
ENV_SRC: Final = "PYODO_SRC"
ENV_S2I_SCRIPTS: Final = "PYODO_S2I_SCRIPTS"

DEFAULT_SRC: Final = "/tmp/src"
DEFAULT_S2I_SCRIPTS: Final = "/usr/libexec/s2i"
#: The label S2I builder images carry; ``image://`` URLs point inside the image.
S2I_SCRIPTS_LABEL: Final = "io.openshift.s2i.scripts-url"

#: Every variable the scripts read.
SCRIPT_ENV_VARS: Final = (
    ENV_COMMAND_BUILD,
    ENV_COMMAND_BUILD_WORKING_DIR,
    ENV_COMMAND_RUN,
    ENV_COMMAND_RUN_WORKING_DIR,
    ENV_COMMAND_DEBUG,
    ENV_COMMAND_DEBUG_WORKING_DIR,
    ENV_DEBUG,
    ENV_DEBUG_PORT,
    ENV_HOT_RELOAD,
    ENV_START,
    ENV_LANGUAGE,
    ENV_SRC,
    ENV_S2I_SCRIPTS,
)
