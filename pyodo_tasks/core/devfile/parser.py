"""The devfile parser: raw YAML in, a validated :class:`~.model.Devfile` out.

One method per part of the devfile schema (header, variables, components, container,
endpoints, commands, events), each reading through :class:`~.fields.FieldReader` so every
mistake is one line naming the file, the dotted field path and the fix. Fields the schema
defines but pyodo does not act on are accepted and ignored; fields it does not define are
rejected, because a typo silently ignored is an edit lost.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

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
    NO_RUN_COMMAND,
    ApplyCommand,
    Command,
    CompositeCommand,
    Container,
    Devfile,
    Endpoint,
    ExecCommand,
    KubernetesComponent,
    Volume,
    VolumeMount,
)
from pyodo_tasks.core.devfile.registry import FetchError, fetch_uri

__all__ = ["Parser", "valid_name"]

_SHELL_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")

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
#: What an ``apply`` command is for (the devfile spec), offered when it names no component.
APPLICABLE_KINDS = ("kubernetes", "openshift", "image")
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
#: What odo (the devfile library's generator) refuses in each overrides attribute.
FORBIDDEN_OVERRIDES = {
    "container-overrides": ("name", "image", "command", "args", "ports", "volumeMounts", "env"),
    "pod-overrides": ("containers", "initContainers", "volumes"),
}


class Parser(FieldReader):
    """Walks one devfile document; ``parse`` is the entry point."""

    def __init__(self, file: Path) -> None:
        super().__init__(file)
        #: The schema version's limit (see :func:`endpoint_name_limit`); set by ``parse``.
        self.endpoint_name_limit = 15
        #: Every component's name and kind, for ``apply`` commands (set by ``components``).
        self.component_kinds: dict[str, str] = {}

    # -- the document ----------------------------------------------------------------------
    def parse(self, raw: Any, default_name: str = "") -> Devfile:
        """The devfile of ``raw`` (parents already merged in by the loader).

        ``default_name`` stands in for a missing ``metadata.name`` (odo: the directory's name).
        """
        top = self.mapping(raw, "", TOP_LEVEL)
        if not top:
            raise self.fail("", "empty devfile", "add schemaVersion, metadata.name, components")
        version = self.schema_version(top)
        self.endpoint_name_limit = endpoint_name_limit(version)
        self.read_variables(top.get("variables"))
        self.seq(top.get("projects"), "projects")
        self.seq(top.get("starterProjects"), "starterProjects")
        name = self.metadata_name(top.get("metadata"), default_name)
        containers, volumes, manifests = self.components(top.get("components"))
        self.check_endpoints(containers)
        commands = self.commands(top.get("commands"), containers)
        post_start, pre_stop = self.events(top.get("events"), commands)
        self.check_mounts(containers, volumes)
        if any(isinstance(c, ExecCommand) for c in commands) and not any(
            c.group == "run" for c in commands
        ):
            # Che devfiles: the commands are the IDE's tasks. A push syncs and builds only.
            self.note("commands", NO_RUN_COMMAND)
        return Devfile(
            path=self.file,
            schema_version=version,
            name=name,
            containers=tuple(containers),
            volumes=tuple(volumes),
            commands=commands,
            post_start=post_start,
            variables=dict(self.variables),
            pre_stop=pre_stop,
            kubernetes=self.kubernetes_components(manifests, commands),
            pod_overrides=self.overrides_attribute(
                top.get("attributes"), "pod-overrides", "attributes"
            ),
            notes=tuple(self.notes),
        )

    def schema_version(self, top: Mapping[str, Any]) -> str:
        version = self.required(top.get("schemaVersion"), "schemaVersion")
        if not SCHEMA_VERSION.match(version):
            raise self.fail("schemaVersion", f"{version!r} is not a 2.x devfile", "use 2.2.0")
        return version

    def read_variables(self, raw: Any) -> None:
        variables = self.mapping(raw, "variables", list(raw) if isinstance(raw, dict) else ())
        for key, val in variables.items():
            self.variables[str(key)] = self.string(val, f"variables.{key}") or ""

    def metadata_name(self, metadata: Any, default_name: str) -> str:
        """``metadata.name``, made a valid name as odo makes it (said once when changed)."""
        if metadata is not None and not isinstance(metadata, dict):
            raise self.fail("metadata", f"expected a mapping, got {type(metadata).__name__}")
        raw = self.string((metadata or {}).get("name"), "metadata.name")
        if not raw:
            if not default_name:
                raise self.fail("metadata.name", "is required", "add metadata.name")
            name = valid_name(default_name)
            self.note("metadata.name", f"missing; using {name!r} from the directory name")
            return name
        name = valid_name(raw)
        if name != raw:
            self.note("metadata.name", f"{raw!r} is not a valid name; using {name!r}")
        self.check_name(name, "metadata.name", DNS1035_LABEL, MAX_NAME)
        return name

    def events(self, raw: Any, commands: Sequence[Command]) -> tuple[tuple[str, ...], ...]:
        """``(postStart, preStop)`` command ids; preStart/postStop are said to be ignored."""
        events = self.mapping(raw, "events", EVENTS)
        known = {c.id for c in commands}
        found = {}
        for event in EVENTS:
            ids = tuple(
                self.required(c, f"events.{event}[{i}]").lower()
                for i, c in enumerate(self.seq(events.get(event), f"events.{event}"))
            )
            for i, cid in enumerate(ids):
                if cid not in known:
                    raise self.fail(
                        f"events.{event}[{i}]",
                        f"unknown command {cid!r}",
                        f"use one of: {', '.join(sorted(known))}",
                    )
            found[event] = ids
        for event in ("preStart", "postStop"):
            if found[event]:
                self.note(f"events.{event}", "not run by pyodo (odo runs postStart and preStop)")
        return found["postStart"], found["preStop"]

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
    def components(self, raw: Any) -> tuple[list[Container], list[Volume], list[tuple]]:
        containers: list[Container] = []
        volumes: list[Volume] = []
        manifests: list[tuple] = []
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
            kind = kinds[0]
            self.component_kinds[cname] = kind
            if kind == "container":
                containers.append(self.container(cname, item, f"{at}.container"))
            elif kind == "volume":
                volumes.append(self.volume(cname, item["volume"], f"{at}.volume"))
            elif kind in ("kubernetes", "openshift"):
                manifests.append((cname, item[kind], f"{at}.{kind}"))
            elif kind == "image":
                self.image_component(cname, item["image"], f"{at}.image")
            else:
                self.note(f"{at}.custom", "custom components are not supported; ignored")
        if not containers:
            raise self.fail("components", "no container component", "add one with an image")
        return containers, volumes, manifests

    def image_component(self, name: str, raw: Any, at: str) -> None:
        raw = self.mapping(raw, at, ("imageName", "autoBuild", "dockerfile"))
        if self.boolean(raw.get("autoBuild"), f"{at}.autoBuild", False):
            self.note(
                f"{at}.autoBuild",
                f"pyodo builds no images; build {raw.get('imageName') or name} yourself and "
                "point the container at it (PYODO_IMAGE_<CONTAINER>)",
            )

    def container(self, name: str, component: dict[str, Any], at: str) -> Container:
        raw = self.mapping(component["container"], at, CONTAINER_FIELDS)
        image = self.required(raw.get("image"), f"{at}.image")
        env = self.container_env(raw.get("env"), component.get("attributes"), at)
        source_mapping = self.string(raw.get("sourceMapping"), f"{at}.sourceMapping")
        if source_mapping is not None and not source_mapping.startswith("/"):
            self.note(
                f"{at}.sourceMapping",
                f"{source_mapping!r} is not an absolute path; using the default",
            )
            source_mapping = None
        if self.boolean(raw.get("dedicatedPod"), f"{at}.dedicatedPod", False):
            self.note(
                f"{at}.dedicatedPod", "not supported; the container runs in the component's pod"
            )
        if raw.get("annotation"):
            self.note(
                f"{at}.annotation", "not applied by pyodo; set annotations with pod-overrides"
            )
        attributes = component.get("attributes")
        attr_at = at.rsplit(".", 1)[0] + ".attributes"
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
            overrides=self.overrides_attribute(attributes, "container-overrides", attr_at),
            pod_overrides=self.overrides_attribute(attributes, "pod-overrides", attr_at),
        )

    def overrides_attribute(self, attributes: Any, key: str, at: str) -> dict[str, Any]:
        """A ``container-overrides``/``pod-overrides`` attribute: a mapping (or its JSON text)."""
        if not isinstance(attributes, dict) or attributes.get(key) is None:
            return {}
        value = attributes[key]
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise self.fail(f"{at}.{key}", f"not valid JSON: {exc}", "write a mapping") from exc
        if not isinstance(value, dict):
            raise self.fail(f"{at}.{key}", f"expected a mapping, got {type(value).__name__}")
        spec = value.get("spec") if key == "pod-overrides" else value
        forbidden = FORBIDDEN_OVERRIDES[key]
        bad = [f for f in forbidden if isinstance(spec, dict) and f in spec]
        if bad:
            raise self.fail(
                f"{at}.{key}",
                f"cannot override {', '.join(bad)}",
                "set them in the component itself (odo refuses them too)",
            )
        return value

    def kubernetes_components(
        self, manifests: Sequence[tuple], commands: Sequence[Command]
    ) -> tuple[KubernetesComponent, ...]:
        """Kubernetes/OpenShift components; ``deployByDefault`` resolved as odo resolves it."""
        applied = {c.component for c in commands if isinstance(c, ApplyCommand)}
        inner = self.inner_loop_applies(commands)
        found = []
        for name, raw, at in manifests:
            raw = self.mapping(raw, at, ("uri", "inlined", "deployByDefault", "endpoints"))
            explicit = raw.get("deployByDefault")
            deploy = (
                self.boolean(explicit, f"{at}.deployByDefault", False)
                if explicit is not None
                else name not in applied or name in inner
            )
            if "uri" in raw and "inlined" in raw:
                raise self.fail(at, "has both uri and inlined", "keep one")
            text = self.manifest_text(raw, at) if deploy else ""
            found.append(
                KubernetesComponent(
                    name=name,
                    objects=self.manifest_objects(text, at) if deploy else (),
                    deploy_by_default=deploy,
                    endpoints=self.endpoints(raw.get("endpoints"), f"{at}.endpoints"),
                )
            )
        return tuple(found)

    def inner_loop_applies(self, commands: Sequence[Command]) -> set[str]:
        """Components applied by an ``apply`` step of a build/run/debug composite: a push runs
        those commands, so their components are applied with the component."""
        by_id = {c.id: c for c in commands}
        found: set[str] = set()

        def walk(command: Command, seen: tuple[str, ...]) -> None:
            if isinstance(command, ApplyCommand):
                found.add(command.component)
            elif isinstance(command, CompositeCommand) and command.id not in seen:
                for child in command.commands:
                    if child in by_id:
                        walk(by_id[child], (*seen, command.id))

        for command in commands:
            if command.group in ("build", "run", "debug"):
                walk(command, ())
        return found

    def manifest_text(self, raw: Mapping[str, Any], at: str) -> str:
        if raw.get("inlined") is not None:
            return self.required(raw["inlined"], f"{at}.inlined")
        uri = self.required(raw.get("uri"), f"{at}.uri")
        try:
            fetched = fetch_uri(uri, str(self.file.parent))
        except FetchError as exc:
            raise self.fail(f"{at}.uri", exc.problem, exc.fix) from exc
        return self.substitute(fetched.text, f"{at}.uri")

    def manifest_objects(self, text: str, at: str) -> tuple[dict[str, Any], ...]:
        try:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise self.fail(
                at, f"manifest is not valid YAML: {problem}", "fix the manifest"
            ) from exc
        except (ValueError, RecursionError) as exc:  # e.g. a date 2020-13-45; nesting too deep
            raise self.fail(at, "manifest is not valid YAML", "fix the manifest") from exc
        for i, doc in enumerate(docs):
            ok = isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind")
            if (
                not ok
                or not isinstance(doc.get("metadata"), dict)
                or not doc["metadata"].get("name")
            ):
                raise self.fail(
                    f"{at}[{i}]",
                    "manifest object lacks apiVersion, kind or metadata.name",
                    "give every object all three",
                )
        return tuple(docs)

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
        """A component's endpoints. Several may share a ``targetPort`` (an app page and a dev
        UI on one port, different paths): the devfile API allows it within one container, and
        render gives the port one entry (see :meth:`check_endpoints` for across containers)."""
        return tuple(self.endpoint(item, f"{at}[{i}]") for i, item in enumerate(self.seq(raw, at)))

    def check_endpoints(self, containers: Sequence[Container]) -> None:
        """Endpoint names are unique in the devfile; a port belongs to one container (the
        devfile API's rules: the pod's containers share one network namespace)."""
        names: dict[str, str] = {}
        ports: dict[int, str] = {}
        for ci, container in enumerate(containers):
            for ei, endpoint in enumerate(container.endpoints):
                at = f"components[{ci}].container.endpoints[{ei}]"
                if endpoint.name in names:
                    raise self.fail(
                        f"{at}.name",
                        f"endpoint {endpoint.name!r} is also defined in {names[endpoint.name]}",
                        "give each endpoint its own name",
                    )
                names[endpoint.name] = container.name
                owner = ports.setdefault(endpoint.target_port, container.name)
                if owner != container.name:
                    raise self.fail(
                        f"{at}.targetPort",
                        f"port {endpoint.target_port} is also an endpoint of container {owner!r}",
                        "two containers of a pod cannot listen on one port: use another port",
                    )

    def endpoint(self, raw: Any, at: str) -> Endpoint:
        item = self.mapping(raw, at, ENDPOINT_FIELDS)
        name = self.required(item.get("name"), f"{at}.name")
        self.check_name(name, f"{at}.name", DNS1123_LABEL, self.endpoint_name_limit)
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
            # The devfile library lower-cases ids: references match whatever the case.
            cid = self.required(item.get("id"), f"{at}.id").lower()
            self.check_name(cid, f"{at}.id", DNS1123_LABEL, 63)
            if cid in ids:
                raise self.fail(f"{at}.id", f"duplicate command id {cid!r}", "rename one")
            ids.add(cid)
            if "custom" in item:
                self.note(f"{at}.custom", "custom commands are not supported; ignored")
                continue
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
            self.required(c, f"{at}.commands[{j}]").lower()
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
        component = self.required(raw.get("component"), f"{at}.component")
        if component not in self.component_kinds:
            # odo (the devfile API's validation) refuses it: the command could never run.
            applicable = sorted(
                name for name, k in self.component_kinds.items() if k in APPLICABLE_KINDS
            )
            fix = (
                f"use one of: {', '.join(applicable)}"
                if applicable
                else ("add a kubernetes, openshift or image component of that name")
            )
            raise self.fail(f"{at}.component", f"no component {component!r}", fix)
        return ApplyCommand(id=cid, component=component, group=kind, is_default=default)

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
        """Expand ``$VAR``/``${VAR}`` for the sync directory and the container's own env.

        ``PROJECT_SOURCE`` and ``PROJECTS_ROOT`` are both the directory the sources are synced
        to; other names are the container's env values. Unknown names stay as written.
        """
        container = next((c for c in containers if c.name == component), None)
        source = (container.source_mapping if container else None) or DEFAULT_SOURCE_DIR
        values = {e.name: e.value for e in container.env if not e.secret} if container else {}
        values.update(PROJECT_SOURCE=source, PROJECTS_ROOT=source)

        def repl(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            return values.get(name, match.group(0))

        return _SHELL_VAR.sub(repl, text)


def endpoint_name_limit(version: str) -> int:
    """The longest endpoint name the schema allows: 63 up to 2.1.x, 15 from 2.2.0 on (when the
    devfile API took Kubernetes' container port name limit; render names a longer one's port
    ``port-<targetPort>``, as the devfile library does)."""
    minor = int(version.split(".")[1])
    return 63 if minor < 2 else 15


def valid_name(raw: str) -> str:
    """A DNS-1035 label (at most MAX_NAME) from any text, as odo derives component names."""
    name = re.sub(r"[^a-z0-9]+", "-", raw.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = f"c-{name}".rstrip("-")
    return name[:MAX_NAME].rstrip("-")
