"""The devfile model: frozen dataclasses for the subset of devfile 2.x that pyodo acts on.

Why its own module: the model is what render, the component and the doit layer read; the
parser (:mod:`.parser`) is what builds it. Keeping them apart lets a reader see the shape of a
component without wading through validation, and lets the parser change without touching the
objects everyone else imports.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pyodo_tasks.errors import DevfileError

__all__ = [
    "DEFAULT_SOURCE_DIR",
    "NO_RUN_COMMAND",
    "S2I_SOURCE_DIR",
    "ApplyCommand",
    "Command",
    "CompositeCommand",
    "Container",
    "Devfile",
    "Endpoint",
    "EnvVar",
    "ExecCommand",
    "KubernetesComponent",
    "Volume",
    "VolumeMount",
    "image_override_env_name",
]

#: Where sources land when a container gives no ``sourceMapping``: the devfile spec's default.
DEFAULT_SOURCE_DIR = "/projects"
#: Where sources land for an S2I builder image run without devfile commands (seed 000).
S2I_SOURCE_DIR = "/tmp/src"
#: What a push of a devfile with exec commands but none of the run group does (Che devfiles,
#: whose commands are the IDE's tasks): said once when the devfile loads.
NO_RUN_COMMAND = (
    "no run command (commands[].exec.group.kind: run): synced and built, nothing started"
)


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str
    #: Values of variables listed in the container attribute ``pyodo.dev/secret-env`` go into
    #: a Secret and reach the container through ``secretKeyRef``, never the Deployment spec.
    secret: bool = False


@dataclass(frozen=True)
class Endpoint:
    name: str
    target_port: int
    exposure: str = "public"
    protocol: str = "http"
    #: Always starts with ``/`` (``path: hello`` is ``/hello``, as the devfile library joins
    #: it), so ``f"{scheme}://{host}:{port}{path}"`` is a URL wherever it is built.
    path: str = "/"
    secure: bool = False

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            object.__setattr__(self, "path", "/" + self.path)


@dataclass(frozen=True)
class VolumeMount:
    name: str
    path: str


@dataclass(frozen=True)
class Container:
    """A ``container`` component: one container in the component's pod."""

    name: str
    image: str
    env: tuple[EnvVar, ...] = ()
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    memory_limit: str | None = None
    memory_request: str | None = None
    cpu_limit: str | None = None
    cpu_request: str | None = None
    mount_sources: bool = True
    source_mapping: str | None = None
    endpoints: tuple[Endpoint, ...] = ()
    volume_mounts: tuple[VolumeMount, ...] = ()
    #: The ``container-overrides`` attribute: merged into the rendered container as odo does.
    overrides: Mapping[str, Any] = field(default_factory=dict)
    #: The component's ``pod-overrides`` attribute: merged into the pod spec.
    pod_overrides: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Volume:
    """A ``volume`` component: a PVC, or an emptyDir when ``ephemeral``."""

    name: str
    size: str = "1Gi"
    ephemeral: bool = False


@dataclass(frozen=True)
class ExecCommand:
    id: str
    command_line: str
    component: str
    working_dir: str | None = None
    env: tuple[EnvVar, ...] = ()
    group: str | None = None
    is_default: bool = False
    hot_reload_capable: bool = False


@dataclass(frozen=True)
class CompositeCommand:
    id: str
    commands: tuple[str, ...]
    parallel: bool = False
    group: str | None = None
    is_default: bool = False


@dataclass(frozen=True)
class ApplyCommand:
    """An outer-loop command (``odo deploy``): kept so composites resolve, never run by push."""

    id: str
    component: str
    group: str | None = None
    is_default: bool = False


Command = ExecCommand | CompositeCommand | ApplyCommand


@dataclass(frozen=True)
class KubernetesComponent:
    """A ``kubernetes``/``openshift`` component: manifests applied beside the pod.

    ``objects`` are the parsed manifests (inlined, or read from ``uri`` at load time).
    ``deploy_by_default`` is the spec's rule already resolved: true when the devfile says so,
    or says nothing and no ``apply`` command references the component.
    """

    name: str
    objects: tuple[Mapping[str, Any], ...]
    deploy_by_default: bool
    endpoints: tuple[Endpoint, ...] = ()


@dataclass(frozen=True)
class Devfile:
    """A validated devfile. ``path`` is the file it came from, for error messages."""

    path: Path
    schema_version: str
    name: str
    containers: tuple[Container, ...]
    volumes: tuple[Volume, ...] = ()
    commands: tuple[Command, ...] = ()
    post_start: tuple[str, ...] = ()
    variables: Mapping[str, str] = field(default_factory=dict)
    pre_stop: tuple[str, ...] = ()
    kubernetes: tuple[KubernetesComponent, ...] = ()
    #: Top-level ``pod-overrides`` attribute, merged into the pod spec before the components'.
    pod_overrides: Mapping[str, Any] = field(default_factory=dict)
    #: One-line messages from loading (a name made valid, a field pyodo ignores, a parent taken
    #: from cache): said once by whoever shows the component to the user.
    notes: tuple[str, ...] = ()

    @property
    def root(self) -> Path:
        """The component's source directory: the devfile's folder."""
        return self.path.parent

    def container(self, name: str) -> Container:
        for container in self.containers:
            if container.name == name:
                return container
        raise KeyError(name)

    def command(self, command_id: str) -> Command:
        """The command with this id; ids compare case-insensitively, as the devfile library's."""
        wanted = command_id.lower()
        for command in self.commands:
            if command.id == wanted:
                return command
        raise KeyError(command_id)

    def default_command(self, kind: str) -> Command | None:
        """The group's default command: the one marked ``isDefault``, else the only one."""
        in_group = [c for c in self.commands if c.group == kind]
        defaults = [c for c in in_group if c.is_default]
        if defaults:
            return defaults[0]
        return in_group[0] if len(in_group) == 1 else None

    def undecided(self, kind: str) -> tuple[str, ...]:
        """The group's command ids when it has several and none is default (then
        :meth:`default_command` is None and the push must be told which: ``run_command=``)."""
        in_group = tuple(c.id for c in self.commands if c.group == kind)
        return in_group if len(in_group) > 1 and self.default_command(kind) is None else ()

    def with_commands(self, chosen: Mapping[str, str]) -> Devfile:
        """A copy whose ``kind`` group (``build``, ``run``, ``debug``) has ``chosen[kind]`` as its
        default, as odo's ``--build-command``/``--run-command`` pick one by id within the group."""
        commands = list(self.commands)
        for kind, wanted in chosen.items():
            in_group = [c.id for c in commands if c.group == kind]
            if wanted.lower() not in in_group:
                offer = f"use one of: {', '.join(in_group)}" if in_group else "remove the choice"
                raise DevfileError(
                    self.path, "commands", f"no {kind} command {wanted!r} ({kind}_command)", offer
                )
            commands = [
                replace(c, is_default=c.id == wanted.lower()) if c.group == kind else c
                for c in commands
            ]
        return replace(self, commands=tuple(commands))

    def flatten(self, command: Command) -> tuple[ExecCommand, ...]:
        """The exec commands a command runs, composites expanded in order."""
        if isinstance(command, ExecCommand):
            return (command,)
        if isinstance(command, ApplyCommand):
            return ()
        steps: list[ExecCommand] = []
        for child in command.commands:
            steps.extend(self.flatten(self.command(child)))
        return tuple(steps)

    @property
    def app_container(self) -> Container:
        """The container that carries the sources and runs build and run commands.

        It is the component of the default run command; without one, the first container
        that mounts sources (S2I images bring their own ``run`` script).
        """
        run = self.default_command("run")
        if run is not None:
            return self.container(self.flatten(run)[0].component)
        for container in self.containers:
            if container.mount_sources:
                return container
        return self.containers[0]

    @property
    def starts_nothing(self) -> bool:
        """Exec commands but no run command: a push syncs and builds, starts no app
        (:data:`NO_RUN_COMMAND`)."""
        return not self.s2i and self.default_command("run") is None and not self.undecided("run")

    @property
    def s2i(self) -> bool:
        """No exec command at all: the builder image's S2I scripts assemble and run."""
        return not any(isinstance(c, ExecCommand) for c in self.commands)

    def source_dir_of(self, container: Container) -> str:
        """Where synced files land in ``container`` (its ``$PROJECT_SOURCE``)."""
        if container.source_mapping:
            return container.source_mapping
        return S2I_SOURCE_DIR if self.s2i else DEFAULT_SOURCE_DIR

    @property
    def source_dir(self) -> str:
        """Where synced files land in the app container (``$PROJECT_SOURCE``)."""
        return self.source_dir_of(self.app_container)

    @property
    def source_containers(self) -> tuple[Container, ...]:
        """Containers that mount the sources: all of them see the synced files."""
        return tuple(c for c in self.containers if c.mount_sources or c is self.app_container)

    @property
    def deployed_kubernetes(self) -> tuple[KubernetesComponent, ...]:
        """Kubernetes/OpenShift components applied with the component (``deployByDefault``)."""
        return tuple(k for k in self.kubernetes if k.deploy_by_default)

    def with_images(self, overrides: Mapping[str, str]) -> Devfile:
        """A copy whose containers run the given images (container name → image)."""
        unknown = sorted(set(overrides) - {c.name for c in self.containers})
        if unknown:
            raise DevfileError(
                self.path,
                "components",
                f"image override names no container component: {', '.join(unknown)}",
                f"use one of: {', '.join(c.name for c in self.containers)}",
            )
        containers = tuple(
            replace(c, image=overrides.get(c.name, c.image)) for c in self.containers
        )
        return replace(self, containers=containers)

    def shell_script(self, kind: str) -> tuple[str, str]:
        """The default ``kind`` command's steps for the app container, as
        ``(shell command line, working dir)`` for the pod's scripts.

        Returns ``("", "")`` when the devfile has no such command (S2I scripts take over), and
        ``":"`` when all its steps run in other containers (see :meth:`sidecar_runs`).
        """
        command = self.default_command(kind)
        if command is None:
            return ("", "")
        line, workdir = self.script(command, only=self.app_container.name)
        return (line or ":", workdir)

    def sidecar_runs(self, kind: str) -> tuple[tuple[str, str, bool], ...]:
        """The default ``kind`` command's steps that run in other containers than the app's,
        as ``(container, shell command line, parallel)``, in order."""
        command = self.default_command(kind)
        if command is None:
            return ()
        app = self.app_container.name
        return tuple(run for run in self.steps_by_container(command) if run[0] != app)

    def script(self, command: Command, only: str | None = None) -> tuple[str, str]:
        """A command as ``(shell command line, working dir)``; ``only`` keeps one container's steps.

        The command lines are the devfile author's shell commands, run with ``sh -c`` in the
        container as the devfile spec says; a composite becomes one ``&&`` chain so a failing
        step stops the rest, a parallel composite starts its steps together and fails if any
        fails. Directories and env values are quoted, never interpolated raw.
        """
        steps = [s for s in self.flatten(command) if only is None or s.component == only]
        if len(steps) == 1 and not steps[0].env:
            step = steps[0]
            return step.command_line, self.working_dir(step)
        workdir = self.working_dir(steps[0]) if steps else self.source_dir
        return self._chain(command, only, [0]) or "", workdir

    def _chain(self, command: Command, only: str | None, counter: list[int]) -> str | None:
        if isinstance(command, ApplyCommand):
            return None
        if isinstance(command, ExecCommand):
            if only is not None and command.component != only:
                return None
            exports = "".join(f"export {e.name}={shlex.quote(e.value)} && " for e in command.env)
            return (
                f"({exports}cd {shlex.quote(self.working_dir(command))} && {command.command_line})"
            )
        parts = [
            part
            for child in command.commands
            if (part := self._chain(self.command(child), only, counter)) is not None
        ]
        if not parts:
            return None
        if not command.parallel or len(parts) == 1:
            return " && ".join(parts)
        names = []
        for _ in parts:
            counter[0] += 1
            names.append(f"_pyodo_p{counter[0]}")
        started = " ".join(f"{part} & {name}=$!;" for part, name in zip(parts, names, strict=True))
        waited = " && ".join(f'wait "${name}"' for name in names)
        return f"{{ {started} {waited}; }}"

    def working_dir(self, step: ExecCommand) -> str:
        """Where a step runs: its ``workingDir``, else its own container's source directory."""
        return step.working_dir or self.source_dir_of(self.container(step.component))

    def steps_by_container(self, command: Command) -> tuple[tuple[str, str, bool], ...]:
        """A command as ``(container, shell command line, parallel)`` runs, in order.

        Consecutive steps for the same container are chained into one line; a parallel
        composite's steps are marked so the caller may start them together.
        """
        runs: list[tuple[str, str, bool]] = []
        for step, parallel in self._leaves(command, False):
            line, workdir = self.script(step)
            runs.append((step.component, f"cd {shlex.quote(workdir)} && {line}", parallel))
        return tuple(runs)

    def _leaves(self, command: Command, parallel: bool) -> list[tuple[ExecCommand, bool]]:
        if isinstance(command, ExecCommand):
            return [(command, parallel)]
        if isinstance(command, ApplyCommand):
            return []
        leaves = []
        for child in command.commands:
            leaves.extend(self._leaves(self.command(child), parallel or command.parallel))
        return leaves

    def post_start_steps(self) -> tuple[tuple[str, str], ...]:
        """``events.postStart`` as ``(container, shell command line)`` pairs, in order."""
        return self._event_steps(self.post_start)

    def pre_stop_steps(self) -> tuple[tuple[str, str], ...]:
        """``events.preStop`` as ``(container, shell command line)`` pairs, in order."""
        return self._event_steps(self.pre_stop)

    def _event_steps(self, ids: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
        steps = []
        for command_id in ids:
            for step in self.flatten(self.command(command_id)):
                line, workdir = self.script(step)
                steps.append((step.component, f"cd {shlex.quote(workdir)} && {line}"))
        return tuple(steps)


def image_override_env_name(container: str) -> str:
    """``PYODO_IMAGE_<CONTAINER>``: the env var that overrides one container's image."""
    return "PYODO_IMAGE_" + re.sub(r"[^A-Z0-9]", "_", container.upper())
