"""The devfile parser: raw YAML in, a validated :class:`~.model.Devfile` out.

One method per part of the devfile schema (header, variables, components, container,
endpoints, commands, events), each reading through :class:`~.fields.FieldReader` so every
mistake is one line naming the file, the dotted field path and the fix. Fields the schema
defines but pyodo does not act on are accepted and ignored; fields it does not define are
rejected, because a typo silently ignored is an edit lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from pyodo_tasks.core.devfile.fields import (
    DNS1035_LABEL,
    DNS1123_LABEL,
    EXPOSURES,
    GROUP_KINDS,
    MAX_NAME,
    PROTOCOLS,
    SCHEMA_VERSION,
    FieldReader,
)
from pyodo_tasks.core.devfile.model import (
    DEFAULT_SOURCE_DIR,
    ApplyCommand,
    Command,
    CompositeCommand,
    Container,
    Devfile,
    Endpoint,
    ExecCommand,
    Volume,
    VolumeMount,
)

__all__ = ["Parser"]

TOP_LEVEL = (
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
)
COMPONENT_KINDS = ("container", "volume", "kubernetes", "openshift", "image", "custom")
CONTAINER_FIELDS = (
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
)
ENDPOINT_FIELDS = (
    "name",
    "targetPort",
    "exposure",
    "protocol",
    "secure",
    "path",
    "attributes",
    "annotation",
)
EXEC_FIELDS = (
    "commandLine",
    "component",
    "workingDir",
    "env",
    "hotReloadCapable",
    "group",
    "label",
)
EVENTS = ("preStart", "postStart", "preStop", "postStop")


class Parser(FieldReader):
    """Walks one devfile document; ``parse`` is the entry point."""

    # -- the document ----------------------------------------------------------------------
    def parse(self, raw: Any) -> Devfile:
        top = self.mapping(raw, "", TOP_LEVEL)
        if not top:
            raise self.fail("", "empty devfile", "add schemaVersion, metadata.name, components")
        version = self.schema_version(top)
        if top.get("parent") is not None:
            raise self.fail("parent", "parent devfiles are not supported", "inline the parent")
        self.read_variables(top.get("variables"))
        self.seq(top.get("projects"), "projects")
        self.seq(top.get("starterProjects"), "starterProjects")
        name = self.metadata_name(top.get("metadata"))
        containers, volumes = self.components(top.get("components"))
        commands = self.commands(top.get("commands"), containers)
        post_start = self.events(top.get("events"), commands)
        self.check_mounts(containers, volumes)
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

    def schema_version(self, top: Mapping[str, Any]) -> str:
        version = self.required(top.get("schemaVersion"), "schemaVersion")
        if not SCHEMA_VERSION.match(version):
            raise self.fail("schemaVersion", f"{version!r} is not a 2.x devfile", "use 2.2.0")
        return version

    def read_variables(self, raw: Any) -> None:
        variables = self.mapping(raw, "variables", list(raw or {}))
        for key, val in variables.items():
            self.variables[str(key)] = self.string(val, f"variables.{key}") or ""

    def metadata_name(self, metadata: Any) -> str:
        if not isinstance(metadata, dict):
            raise self.fail("metadata", "is required", "add metadata.name")
        name = self.required(metadata.get("name"), "metadata.name")
        self.check_name(name, "metadata.name", DNS1035_LABEL, MAX_NAME)
        return name

    def events(self, raw: Any, commands: Sequence[Command]) -> tuple[str, ...]:
        events = self.mapping(raw, "events", EVENTS)
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
        return post_start

    def check_mounts(self, containers: Sequence[Container], volumes: Sequence[Volume]) -> None:
        volume_names = {v.name for v in volumes}
        for ci, container in enumerate(containers):
            for mi, mount in enumerate(container.volume_mounts):
                if mount.name not in volume_names:
                    raise self.fail(
                        f"components[{ci}].container.volumeMounts[{mi}].name",
                        f"no volume component named {mount.name!r}",
                        "add a volume component or fix the name",
                    )

    # -- components ------------------------------------------------------------------------
    def components(self, raw: Any) -> tuple[list[Container], list[Volume]]:
        containers: list[Container] = []
        volumes: list[Volume] = []
        names: set[str] = set()
        for i, item in enumerate(self.seq(raw, "components")):
            at = f"components[{i}]"
            item = self.mapping(item, at, ("name", "attributes", *COMPONENT_KINDS))
            cname = self.required(item.get("name"), f"{at}.name")
            self.check_name(cname, f"{at}.name", DNS1123_LABEL, 63)
            if cname in names:
                raise self.fail(f"{at}.name", f"duplicate component {cname!r}", "rename one")
            names.add(cname)
            kinds = [k for k in COMPONENT_KINDS if k in item]
            if len(kinds) != 1:
                raise self.fail(
                    at,
                    "needs exactly one of container, volume, kubernetes, openshift, image",
                    "keep one",
                )
            if kinds[0] == "container":
                containers.append(self.container(cname, item, f"{at}.container"))
            elif kinds[0] == "volume":
                volumes.append(self.volume(cname, item["volume"], f"{at}.volume"))
            # kubernetes/openshift/image/custom components serve the outer loop (odo deploy):
            # accepted and ignored by push.
        if not containers:
            raise self.fail("components", "no container component", "add one with an image")
        return containers, volumes

    def container(self, name: str, component: dict[str, Any], at: str) -> Container:
        raw = self.mapping(component["container"], at, CONTAINER_FIELDS)
        image = self.required(raw.get("image"), f"{at}.image")
        env = self.container_env(raw.get("env"), component.get("attributes"), at)
        source_mapping = self.string(raw.get("sourceMapping"), f"{at}.sourceMapping")
        if source_mapping is not None and not source_mapping.startswith("/"):
            raise self.fail(
                f"{at}.sourceMapping", f"{source_mapping!r} is not absolute", "start it with /"
            )
        return Container(
            name=name,
            image=image,
            env=env,
            command=self.strings(raw.get("command"), f"{at}.command"),
            args=self.strings(raw.get("args"), f"{at}.args"),
            memory_limit=self.quantity(raw.get("memoryLimit"), f"{at}.memoryLimit"),
            memory_request=self.quantity(raw.get("memoryRequest"), f"{at}.memoryRequest"),
            cpu_limit=self.quantity(raw.get("cpuLimit"), f"{at}.cpuLimit"),
            cpu_request=self.quantity(raw.get("cpuRequest"), f"{at}.cpuRequest"),
            mount_sources=self.boolean(raw.get("mountSources"), f"{at}.mountSources", True),
            source_mapping=source_mapping,
            endpoints=self.endpoints(raw.get("endpoints"), f"{at}.endpoints"),
            volume_mounts=self.volume_mounts(raw.get("volumeMounts"), f"{at}.volumeMounts"),
        )

    def strings(self, raw: Any, at: str) -> tuple[str, ...]:
        return tuple(self.string(a, f"{at}[{i}]") or "" for i, a in enumerate(self.seq(raw, at)))

    def container_env(self, raw: Any, attributes: Any, at: str) -> tuple:
        """The container's env; names listed in ``pyodo.dev/secret-env`` become secret."""
        secret = attributes.get("pyodo.dev/secret-env") if isinstance(attributes, dict) else None
        secret_names = [str(n) for n in self.seq(secret, "attributes.pyodo.dev/secret-env")]
        env = self.env(raw, f"{at}.env", secret_names)
        missing = sorted(set(secret_names) - {e.name for e in env})
        if missing:
            raise self.fail(
                f"{at}.env",
                f"secret-env names undefined variables: {missing}",
                "add them to env or drop them from pyodo.dev/secret-env",
            )
        return env

    def endpoints(self, raw: Any, at: str) -> tuple[Endpoint, ...]:
        endpoints = []
        ports: set[int] = set()
        for i, item in enumerate(self.seq(raw, at)):
            endpoint = self.endpoint(item, f"{at}[{i}]")
            if endpoint.target_port in ports:
                raise self.fail(
                    f"{at}[{i}].targetPort",
                    f"port {endpoint.target_port} is used twice",
                    "use one endpoint",
                )
            ports.add(endpoint.target_port)
            endpoints.append(endpoint)
        return tuple(endpoints)

    def endpoint(self, raw: Any, at: str) -> Endpoint:
        item = self.mapping(raw, at, ENDPOINT_FIELDS)
        name = self.required(item.get("name"), f"{at}.name")
        self.check_name(name, f"{at}.name", DNS1123_LABEL, 15)
        port = item.get("targetPort")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise self.fail(
                f"{at}.targetPort",
                f"{port!r} is not a port number",
                "use an integer from 1 to 65535",
            )
        return Endpoint(
            name=name,
            target_port=port,
            exposure=self.choice(item.get("exposure"), f"{at}.exposure", EXPOSURES, "public"),
            protocol=self.choice(item.get("protocol"), f"{at}.protocol", PROTOCOLS, "http"),
            path=self.string(item.get("path"), f"{at}.path") or "/",
            secure=self.boolean(item.get("secure"), f"{at}.secure", False),
        )

    def volume_mounts(self, raw: Any, at: str) -> tuple[VolumeMount, ...]:
        mounts = []
        for i, item in enumerate(self.seq(raw, at)):
            mat = f"{at}[{i}]"
            item = self.mapping(item, mat, ("name", "path"))
            vname = self.required(item.get("name"), f"{mat}.name")
            vpath = self.string(item.get("path"), f"{mat}.path") or f"/{vname}"
            if not vpath.startswith("/"):
                raise self.fail(f"{mat}.path", f"{vpath!r} is not absolute", "start it with /")
            mounts.append(VolumeMount(vname, vpath))
        return tuple(mounts)

    def volume(self, name: str, raw: Any, at: str) -> Volume:
        raw = self.mapping(raw, at, ("size", "ephemeral"))
        return Volume(
            name=name,
            size=self.quantity(raw.get("size"), f"{at}.size") or "1Gi",
            ephemeral=self.boolean(raw.get("ephemeral"), f"{at}.ephemeral", False),
        )

    # -- commands --------------------------------------------------------------------------
    def commands(self, raw: Any, containers: Sequence[Container]) -> tuple[Command, ...]:
        commands: list[Command] = []
        ids: set[str] = set()
        for i, item in enumerate(self.seq(raw, "commands")):
            at = f"commands[{i}]"
            item = self.mapping(
                item, at, ("id", "attributes", "exec", "composite", "apply", "custom")
            )
            cid = self.required(item.get("id"), f"{at}.id")
            self.check_name(cid, f"{at}.id", DNS1123_LABEL, 63)
            if cid in ids:
                raise self.fail(f"{at}.id", f"duplicate command id {cid!r}", "rename one")
            ids.add(cid)
            commands.append(self.command(cid, item, at, containers))
        by_id = {c.id: c for c in commands}
        for i, command in enumerate(commands):
            if isinstance(command, CompositeCommand):
                self.check_composite(command, by_id, f"commands[{i}].composite.commands", ())
        self.check_defaults(commands)
        return tuple(commands)

    def command(
        self, cid: str, item: dict[str, Any], at: str, containers: Sequence[Container]
    ) -> Command:
        if "exec" in item:
            return self.exec_command(cid, item["exec"], f"{at}.exec", containers)
        if "composite" in item:
            return self.composite_command(cid, item["composite"], f"{at}.composite")
        if "apply" in item:
            return self.apply_command(cid, item["apply"], f"{at}.apply")
        raise self.fail(at, "needs one of exec, composite, apply", "add an exec command")

    def exec_command(
        self, cid: str, raw: Any, at: str, containers: Sequence[Container]
    ) -> ExecCommand:
        raw = self.mapping(raw, at, EXEC_FIELDS)
        container_names = {c.name for c in containers}
        component = self.required(raw.get("component"), f"{at}.component")
        if component not in container_names:
            raise self.fail(
                f"{at}.component",
                f"no container component {component!r}",
                f"use one of: {', '.join(sorted(container_names))}",
            )
        kind, default = self.group(raw.get("group"), f"{at}.group")
        return ExecCommand(
            id=cid,
            command_line=self.required(raw.get("commandLine"), f"{at}.commandLine"),
            component=component,
            working_dir=self.working_dir(
                raw.get("workingDir"), f"{at}.workingDir", containers, component
            ),
            env=tuple(
                replace(e, value=self.project_vars(e.value, containers, component))
                for e in self.env(raw.get("env"), f"{at}.env")
            ),
            group=kind,
            is_default=default,
            hot_reload_capable=self.boolean(
                raw.get("hotReloadCapable"), f"{at}.hotReloadCapable", False
            ),
        )

    def composite_command(self, cid: str, raw: Any, at: str) -> CompositeCommand:
        raw = self.mapping(raw, at, ("commands", "parallel", "group", "label"))
        kind, default = self.group(raw.get("group"), f"{at}.group")
        children = tuple(
            self.required(c, f"{at}.commands[{j}]")
            for j, c in enumerate(self.seq(raw.get("commands"), f"{at}.commands"))
        )
        return CompositeCommand(
            id=cid,
            commands=children,
            parallel=self.boolean(raw.get("parallel"), f"{at}.parallel", False),
            group=kind,
            is_default=default,
        )

    def apply_command(self, cid: str, raw: Any, at: str) -> ApplyCommand:
        raw = self.mapping(raw, at, ("component", "group", "label"))
        kind, default = self.group(raw.get("group"), f"{at}.group")
        return ApplyCommand(
            id=cid,
            component=self.required(raw.get("component"), f"{at}.component"),
            group=kind,
            is_default=default,
        )

    def group(self, raw: Any, at: str) -> tuple[str | None, bool]:
        if raw is None:
            return None, False
        raw = self.mapping(raw, at, ("kind", "isDefault"))
        kind = self.choice(raw.get("kind"), f"{at}.kind", GROUP_KINDS, "")
        if not kind:
            raise self.fail(f"{at}.kind", "is required", f"use one of: {', '.join(GROUP_KINDS)}")
        return kind, self.boolean(raw.get("isDefault"), f"{at}.isDefault", False)

    def check_defaults(self, commands: Sequence[Command]) -> None:
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
