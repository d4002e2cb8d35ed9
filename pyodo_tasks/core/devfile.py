"""The devfile 2.x model: the subset odo acts on, validated before anything touches a cluster.

A component is a directory holding a ``devfile.yaml``. :func:`load_devfile` reads it into
frozen dataclasses, checking every field on the way with its dotted path, so a mistake is
reported as one line naming the file, the field and the fix. Fields the devfile schema defines
but pyodo does not act on (starter projects, attributes, icons, outer-loop ``image`` and
``kubernetes`` components, ``apply`` commands) are accepted and ignored; fields the schema does
not define are rejected, because a typo silently ignored is an edit lost.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pyodo_tasks.errors import DevfileError

__all__ = [
    "DEFAULT_SOURCE_DIR",
    "ApplyCommand",
    "Command",
    "CompositeCommand",
    "Container",
    "Devfile",
    "Endpoint",
    "EnvVar",
    "ExecCommand",
    "Volume",
    "VolumeMount",
    "find_devfile",
    "image_override_env_name",
    "load_devfile",
]

#: Where sources land in the container when the devfile gives no ``sourceMapping`` (seed 000).
DEFAULT_SOURCE_DIR = "/tmp/src"

DEVFILE_NAMES = ("devfile.yaml", ".devfile.yaml", "devfile.yml", ".devfile.yml")

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_QUANTITY = re.compile(r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|[KMGTPE]i?|[mkMGTPE]?)$")
_VARIABLE = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
_SCHEMA_VERSION = re.compile(r"^2\.\d+\.\d+(-[0-9a-z-]+)?$")

#: Longest component name: the PVC is ``<name>-s2idata`` and Service/port names must fit too.
MAX_NAME = 47

EXPOSURES = ("public", "internal", "none")
PROTOCOLS = ("http", "https", "ws", "wss", "tcp", "udp", "sctp")
GROUP_KINDS = ("build", "run", "test", "debug", "deploy")


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
    path: str = "/"
    secure: bool = False


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
        for command in self.commands:
            if command.id == command_id:
                return command
        raise KeyError(command_id)

    def default_command(self, kind: str) -> Command | None:
        """The group's default command: the one marked ``isDefault``, else the only one."""
        in_group = [c for c in self.commands if c.group == kind]
        defaults = [c for c in in_group if c.is_default]
        if defaults:
            return defaults[0]
        return in_group[0] if len(in_group) == 1 else None

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
    def source_dir(self) -> str:
        """Where synced files land in the app container (``$PROJECT_SOURCE``)."""
        return self.app_container.source_mapping or DEFAULT_SOURCE_DIR

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
            _replace(c, image=overrides.get(c.name, c.image)) for c in self.containers
        )
        return _replace(self, containers=containers)

    def shell_script(self, kind: str) -> tuple[str, str]:
        """The default ``kind`` command as ``(shell command line, working dir)`` for the pod.

        Returns ``("", "")`` when the devfile has no such command (S2I scripts take over).
        """
        command = self.default_command(kind)
        return ("", "") if command is None else self.script(command)

    def script(self, command: Command) -> tuple[str, str]:
        """A command as ``(shell command line, working dir)``.

        The command lines are the devfile author's shell commands, run with ``sh -c`` in the
        container as the devfile spec says; a composite becomes one ``&&`` chain so a failing
        step stops the rest. Directories and env values are quoted, never interpolated raw.
        """
        steps = self.flatten(command)
        if len(steps) == 1 and not steps[0].env:
            step = steps[0]
            return step.command_line, step.working_dir or self.source_dir
        chain = " && ".join(
            "("
            + "".join(f"export {e.name}={shlex.quote(e.value)} && " for e in s.env)
            + f"cd {shlex.quote(s.working_dir or self.source_dir)} && {s.command_line})"
            for s in steps
        )
        return chain, self.source_dir

    def post_start_steps(self) -> tuple[tuple[str, str], ...]:
        """``events.postStart`` as ``(container, shell command line)`` pairs, in order."""
        steps = []
        for command_id in self.post_start:
            for step in self.flatten(self.command(command_id)):
                line, workdir = self.script(step)
                steps.append((step.component, f"cd {shlex.quote(workdir)} && {line}"))
        return tuple(steps)


def _replace(obj: Any, **changes: Any) -> Any:
    from dataclasses import replace

    return replace(obj, **changes)


def image_override_env_name(container: str) -> str:
    """``PYODO_IMAGE_<CONTAINER>``: the env var that overrides one container's image."""
    return "PYODO_IMAGE_" + re.sub(r"[^A-Z0-9]", "_", container.upper())


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
    devfile = _Parser(file).parse(raw)
    environ = os.environ if environ is None else environ
    overrides = {
        c.name: environ[image_override_env_name(c.name)]
        for c in devfile.containers
        if environ.get(image_override_env_name(c.name))
    }
    overrides.update(image_overrides or {})
    return devfile.with_images(overrides) if overrides else devfile


class _Parser:
    """Walks the raw YAML keeping the dotted path of each field for error messages."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.variables: dict[str, str] = {}

    def fail(self, where: str, problem: str, fix: str = "") -> DevfileError:
        return DevfileError(self.file, where, problem, fix)

    # -- generic readers -------------------------------------------------------------------
    def mapping(self, value: Any, where: str, allowed: Sequence[str]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a mapping, got {type(value).__name__}")
        unknown = [k for k in value if k not in allowed]
        if unknown:
            key = str(unknown[0])
            raise self.fail(
                f"{where}.{key}" if where else key,
                "unknown field",
                f"remove it or use one of: {', '.join(allowed)}",
            )
        return value

    def seq(self, value: Any, where: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(where, f"expected a list, got {type(value).__name__}")
        return value

    def string(self, value: Any, where: str) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(where, f"expected a string, got {type(value).__name__}")
        return self.substitute(str(value), where)

    def required(self, value: Any, where: str) -> str:
        text = self.string(value, where)
        if text is None:
            raise self.fail(where, "is required")
        return text

    def boolean(self, value: Any, where: str, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(where, f"expected true or false, got {value!r}")
        return value

    def substitute(self, text: str, where: str) -> str:
        def repl(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.variables:
                raise self.fail(
                    where,
                    f"undefined variable {{{{{name}}}}}",
                    f"define it under top-level 'variables' (known: "
                    f"{', '.join(sorted(self.variables)) or 'none'})",
                )
            return self.variables[name]

        return _VARIABLE.sub(repl, text)

    def quantity(self, value: Any, where: str) -> str | None:
        text = self.string(value, where)
        if text is not None and not _QUANTITY.match(text):
            raise self.fail(
                where, f"{text!r} is not a Kubernetes quantity", "write e.g. 512Mi or 500m"
            )
        return text

    def choice(self, value: Any, where: str, options: Sequence[str], default: str) -> str:
        text = self.string(value, where)
        if text is None:
            return default
        if text not in options:
            raise self.fail(where, f"{text!r} is not allowed", f"use one of: {', '.join(options)}")
        return text

    def env(self, value: Any, where: str, secret_names: Sequence[str] = ()) -> tuple[EnvVar, ...]:
        result = []
        seen: set[str] = set()
        for i, item in enumerate(self.seq(value, where)):
            at = f"{where}[{i}]"
            item = self.mapping(item, at, ("name", "value"))
            name = self.required(item.get("name"), f"{at}.name")
            if not _ENV_NAME.match(name):
                raise self.fail(f"{at}.name", f"{name!r} is not a valid variable name")
            if name in seen:
                raise self.fail(f"{at}.name", f"duplicate variable {name!r}", "keep one")
            seen.add(name)
            val = self.string(item.get("value"), f"{at}.value") or ""
            result.append(EnvVar(name, val, secret=name in secret_names))
        return tuple(result)

    # -- the document ----------------------------------------------------------------------
    def parse(self, raw: Any) -> Devfile:
        top = self.mapping(
            raw,
            "",
            (
                "schemaVersion",
                "metadata",
                "parent",
                "projects",
                "starterProjects",
                "variables",
                "attributes",
                "components",
                "commands",
                "events",
            ),
        )
        if not top:
            raise self.fail("", "empty devfile", "add schemaVersion, metadata.name, components")
        version = self.required(top.get("schemaVersion"), "schemaVersion")
        if not _SCHEMA_VERSION.match(version):
            raise self.fail("schemaVersion", f"{version!r} is not a 2.x devfile", "use 2.2.0")
        if top.get("parent") is not None:
            raise self.fail("parent", "parent devfiles are not supported", "inline the parent")
        variables = self.mapping(
            top.get("variables"), "variables", list(top.get("variables") or {})
        )
        for key, val in variables.items():
            self.variables[str(key)] = self.string(val, f"variables.{key}") or ""
        self.seq(top.get("projects"), "projects")
        self.seq(top.get("starterProjects"), "starterProjects")

        metadata = top.get("metadata")
        if not isinstance(metadata, dict):
            raise self.fail("metadata", "is required", "add metadata.name")
        name = self.required(metadata.get("name"), "metadata.name")
        self.check_name(name, "metadata.name", _DNS1035_LABEL, MAX_NAME)

        containers: list[Container] = []
        volumes: list[Volume] = []
        names: set[str] = set()
        for i, item in enumerate(self.seq(top.get("components"), "components")):
            at = f"components[{i}]"
            item = self.mapping(
                item,
                at,
                (
                    "name",
                    "attributes",
                    "container",
                    "volume",
                    "kubernetes",
                    "openshift",
                    "image",
                    "custom",
                ),
            )
            cname = self.required(item.get("name"), f"{at}.name")
            self.check_name(cname, f"{at}.name", _DNS1123_LABEL, 63)
            if cname in names:
                raise self.fail(f"{at}.name", f"duplicate component {cname!r}", "rename one")
            names.add(cname)
            kinds = [
                k
                for k in ("container", "volume", "kubernetes", "openshift", "image", "custom")
                if k in item
            ]
            if len(kinds) != 1:
                raise self.fail(
                    at,
                    "needs exactly one of container, volume, kubernetes, openshift, image",
                    "keep one",
                )
            kind = kinds[0]
            if kind == "container":
                containers.append(self.container(cname, item, f"{at}.container"))
            elif kind == "volume":
                volumes.append(self.volume(cname, item["volume"], f"{at}.volume"))
            # kubernetes/openshift/image/custom components serve the outer loop (odo deploy):
            # accepted and ignored by push.
        if not containers:
            raise self.fail("components", "no container component", "add one with an image")

        commands = self.commands(top.get("commands"), containers)
        events = self.mapping(
            top.get("events"), "events", ("preStart", "postStart", "preStop", "postStop")
        )
        post_start = tuple(
            self.required(c, f"events.postStart[{i}]")
            for i, c in enumerate(self.seq(events.get("postStart"), "events.postStart"))
        )
        known = {c.id for c in commands}
        for i, cid in enumerate(post_start):
            if cid not in known:
                raise self.fail(
                    f"events.postStart[{i}]",
                    f"unknown command {cid!r}",
                    f"use one of: {', '.join(sorted(known))}",
                )
        volume_names = {v.name for v in volumes}
        for ci, container in enumerate(containers):
            for mi, mount in enumerate(container.volume_mounts):
                if mount.name not in volume_names:
                    raise self.fail(
                        f"components[{ci}].container.volumeMounts[{mi}].name",
                        f"no volume component named {mount.name!r}",
                        "add a volume component or fix the name",
                    )
        return Devfile(
            path=self.file,
            schema_version=version,
            name=name,
            containers=tuple(containers),
            volumes=tuple(volumes),
            commands=commands,
            post_start=post_start,
            variables=dict(self.variables),
        )

    def check_name(self, name: str, where: str, pattern: re.Pattern[str], limit: int) -> None:
        if len(name) > limit or not pattern.match(name):
            first = "a letter" if pattern is _DNS1035_LABEL else "a letter or digit"
            raise self.fail(
                where,
                f"{name!r} is not a valid name",
                f"use at most {limit} lowercase letters, digits and '-', starting with {first}"
                " and ending with a letter or digit",
            )

    def container(self, name: str, component: dict[str, Any], at: str) -> Container:
        raw = self.mapping(
            component["container"],
            at,
            (
                "image",
                "env",
                "command",
                "args",
                "memoryLimit",
                "memoryRequest",
                "cpuLimit",
                "cpuRequest",
                "mountSources",
                "sourceMapping",
                "endpoints",
                "volumeMounts",
                "dedicatedPod",
                "annotation",
            ),
        )
        image = self.required(raw.get("image"), f"{at}.image")
        attributes = component.get("attributes") or {}
        secret_names = (
            attributes.get("pyodo.dev/secret-env") if isinstance(attributes, dict) else None
        )
        secret_names = [str(n) for n in self.seq(secret_names, "attributes.pyodo.dev/secret-env")]
        env = self.env(raw.get("env"), f"{at}.env", secret_names)
        missing = sorted(set(secret_names) - {e.name for e in env})
        if missing:
            raise self.fail(
                f"{at}.env",
                f"secret-env names undefined variables: {missing}",
                "add them to env or drop them from pyodo.dev/secret-env",
            )
        endpoints = []
        ports: set[int] = set()
        for i, item in enumerate(self.seq(raw.get("endpoints"), f"{at}.endpoints")):
            eat = f"{at}.endpoints[{i}]"
            item = self.mapping(
                item,
                eat,
                (
                    "name",
                    "targetPort",
                    "exposure",
                    "protocol",
                    "secure",
                    "path",
                    "attributes",
                    "annotation",
                ),
            )
            ename = self.required(item.get("name"), f"{eat}.name")
            self.check_name(ename, f"{eat}.name", _DNS1123_LABEL, 15)
            port = item.get("targetPort")
            if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                raise self.fail(
                    f"{eat}.targetPort",
                    f"{port!r} is not a port number",
                    "use an integer from 1 to 65535",
                )
            if port in ports:
                raise self.fail(
                    f"{eat}.targetPort", f"port {port} is used twice", "use one endpoint"
                )
            ports.add(port)
            endpoints.append(
                Endpoint(
                    name=ename,
                    target_port=port,
                    exposure=self.choice(
                        item.get("exposure"), f"{eat}.exposure", EXPOSURES, "public"
                    ),
                    protocol=self.choice(
                        item.get("protocol"), f"{eat}.protocol", PROTOCOLS, "http"
                    ),
                    path=self.string(item.get("path"), f"{eat}.path") or "/",
                    secure=self.boolean(item.get("secure"), f"{eat}.secure", False),
                )
            )
        mounts = []
        for i, item in enumerate(self.seq(raw.get("volumeMounts"), f"{at}.volumeMounts")):
            mat = f"{at}.volumeMounts[{i}]"
            item = self.mapping(item, mat, ("name", "path"))
            vname = self.required(item.get("name"), f"{mat}.name")
            vpath = self.string(item.get("path"), f"{mat}.path") or f"/{vname}"
            if not vpath.startswith("/"):
                raise self.fail(f"{mat}.path", f"{vpath!r} is not absolute", "start it with /")
            mounts.append(VolumeMount(vname, vpath))
        source_mapping = self.string(raw.get("sourceMapping"), f"{at}.sourceMapping")
        if source_mapping is not None and not source_mapping.startswith("/"):
            raise self.fail(
                f"{at}.sourceMapping", f"{source_mapping!r} is not absolute", "start it with /"
            )
        return Container(
            name=name,
            image=image,
            env=env,
            command=tuple(
                self.string(a, f"{at}.command[{i}]") or ""
                for i, a in enumerate(self.seq(raw.get("command"), f"{at}.command"))
            ),
            args=tuple(
                self.string(a, f"{at}.args[{i}]") or ""
                for i, a in enumerate(self.seq(raw.get("args"), f"{at}.args"))
            ),
            memory_limit=self.quantity(raw.get("memoryLimit"), f"{at}.memoryLimit"),
            memory_request=self.quantity(raw.get("memoryRequest"), f"{at}.memoryRequest"),
            cpu_limit=self.quantity(raw.get("cpuLimit"), f"{at}.cpuLimit"),
            cpu_request=self.quantity(raw.get("cpuRequest"), f"{at}.cpuRequest"),
            mount_sources=self.boolean(raw.get("mountSources"), f"{at}.mountSources", True),
            source_mapping=source_mapping,
            endpoints=tuple(endpoints),
            volume_mounts=tuple(mounts),
        )

    def volume(self, name: str, raw: Any, at: str) -> Volume:
        raw = self.mapping(raw, at, ("size", "ephemeral"))
        return Volume(
            name=name,
            size=self.quantity(raw.get("size"), f"{at}.size") or "1Gi",
            ephemeral=self.boolean(raw.get("ephemeral"), f"{at}.ephemeral", False),
        )

    def group(self, raw: Any, at: str) -> tuple[str | None, bool]:
        if raw is None:
            return None, False
        raw = self.mapping(raw, at, ("kind", "isDefault"))
        kind = self.choice(raw.get("kind"), f"{at}.kind", GROUP_KINDS, "")
        if not kind:
            raise self.fail(f"{at}.kind", "is required", f"use one of: {', '.join(GROUP_KINDS)}")
        return kind, self.boolean(raw.get("isDefault"), f"{at}.isDefault", False)

    def commands(self, raw: Any, containers: Sequence[Container]) -> tuple[Command, ...]:
        container_names = {c.name for c in containers}
        commands: list[Command] = []
        ids: set[str] = set()
        for i, item in enumerate(self.seq(raw, "commands")):
            at = f"commands[{i}]"
            item = self.mapping(
                item, at, ("id", "attributes", "exec", "composite", "apply", "custom")
            )
            cid = self.required(item.get("id"), f"{at}.id")
            self.check_name(cid, f"{at}.id", _DNS1123_LABEL, 63)
            if cid in ids:
                raise self.fail(f"{at}.id", f"duplicate command id {cid!r}", "rename one")
            ids.add(cid)
            if "exec" in item:
                eat = f"{at}.exec"
                raw_exec = self.mapping(
                    item["exec"],
                    eat,
                    (
                        "commandLine",
                        "component",
                        "workingDir",
                        "env",
                        "hotReloadCapable",
                        "group",
                        "label",
                    ),
                )
                component = self.required(raw_exec.get("component"), f"{eat}.component")
                if component not in container_names:
                    raise self.fail(
                        f"{eat}.component",
                        f"no container component {component!r}",
                        f"use one of: {', '.join(sorted(container_names))}",
                    )
                kind, default = self.group(raw_exec.get("group"), f"{eat}.group")
                commands.append(
                    ExecCommand(
                        id=cid,
                        command_line=self.required(
                            raw_exec.get("commandLine"), f"{eat}.commandLine"
                        ),
                        component=component,
                        working_dir=self.working_dir(
                            raw_exec.get("workingDir"), f"{eat}.workingDir", containers, component
                        ),
                        env=tuple(
                            _replace(e, value=self.project_vars(e.value, containers, component))
                            for e in self.env(raw_exec.get("env"), f"{eat}.env")
                        ),
                        group=kind,
                        is_default=default,
                        hot_reload_capable=self.boolean(
                            raw_exec.get("hotReloadCapable"), f"{eat}.hotReloadCapable", False
                        ),
                    )
                )
            elif "composite" in item:
                cat = f"{at}.composite"
                raw_comp = self.mapping(
                    item["composite"], cat, ("commands", "parallel", "group", "label")
                )
                kind, default = self.group(raw_comp.get("group"), f"{cat}.group")
                children = tuple(
                    self.required(c, f"{cat}.commands[{j}]")
                    for j, c in enumerate(self.seq(raw_comp.get("commands"), f"{cat}.commands"))
                )
                commands.append(
                    CompositeCommand(
                        id=cid,
                        commands=children,
                        parallel=self.boolean(raw_comp.get("parallel"), f"{cat}.parallel", False),
                        group=kind,
                        is_default=default,
                    )
                )
            elif "apply" in item:
                aat = f"{at}.apply"
                raw_apply = self.mapping(item["apply"], aat, ("component", "group", "label"))
                kind, default = self.group(raw_apply.get("group"), f"{aat}.group")
                commands.append(
                    ApplyCommand(
                        id=cid,
                        component=self.required(raw_apply.get("component"), f"{aat}.component"),
                        group=kind,
                        is_default=default,
                    )
                )
            else:
                raise self.fail(at, "needs one of exec, composite, apply", "add an exec command")
        by_id = {c.id: c for c in commands}
        for i, command in enumerate(commands):
            if isinstance(command, CompositeCommand):
                self.check_composite(command, by_id, f"commands[{i}].composite.commands", ())
        for kind in ("build", "run", "debug"):
            defaults = [c.id for c in commands if c.group == kind and c.is_default]
            if len(defaults) > 1:
                raise self.fail(
                    "commands",
                    f"several default {kind} commands: {defaults}",
                    "mark exactly one with group.isDefault: true",
                )
            in_group = [c.id for c in commands if c.group == kind]
            if len(in_group) > 1 and not defaults:
                raise self.fail(
                    "commands",
                    f"several {kind} commands and none is default: {in_group}",
                    "mark one with group.isDefault: true",
                )
        return tuple(commands)

    def check_composite(
        self,
        command: CompositeCommand,
        by_id: Mapping[str, Command],
        at: str,
        stack: tuple[str, ...],
    ) -> None:
        if command.id in stack:
            raise self.fail(
                at, f"composite command {command.id!r} includes itself", "break the cycle"
            )
        for j, child in enumerate(command.commands):
            if child not in by_id:
                raise self.fail(
                    f"{at}[{j}]",
                    f"unknown command {child!r}",
                    f"use one of: {', '.join(sorted(by_id))}",
                )
            target = by_id[child]
            if isinstance(target, CompositeCommand):
                self.check_composite(target, by_id, at, (*stack, command.id))

    def working_dir(
        self, raw: Any, where: str, containers: Sequence[Container], component: str
    ) -> str | None:
        text = self.string(raw, where)
        return None if text is None else self.project_vars(text, containers, component)

    def project_vars(self, text: str, containers: Sequence[Container], component: str) -> str:
        """Expand ``${PROJECT_SOURCE}``/``${PROJECTS_ROOT}``: both are the sync directory."""
        source = next((c.source_mapping for c in containers if c.name == component), None)
        source = source or DEFAULT_SOURCE_DIR
        return text.replace("${PROJECT_SOURCE}", source).replace("${PROJECTS_ROOT}", source)
