"""The devfile parser: raw YAML in, a validated :class:`~.model.Devfile` out.

One method per part of the devfile schema (header, variables, components, container,
endpoints, commands, events), each reading through :class:`~.fields.FieldReader` so every
mistake is one line naming the file, the dotted field path and the fix. Fields the schema
defines but pyodo does not act on are accepted and ignored; fields it does not define are
rejected, because a typo silently ignored is an edit lost.

The parts are read by the classes :class:`Parser` is made of, one module each:
:mod:`.components` (containers, volumes, endpoints), :mod:`.commands`, :mod:`.manifests`
(kubernetes/openshift components, read after the commands); this module reads the document
itself (schema version, metadata, variables, events) and puts the parts together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pyodo_tasks.core.devfile.commands import CommandReader
from pyodo_tasks.core.devfile.fields import DNS1035_LABEL, EVENTS, MAX_NAME, SCHEMA_VERSION
from pyodo_tasks.core.devfile.manifests import ManifestReader
from pyodo_tasks.core.devfile.model import NO_RUN_COMMAND, Command, Devfile, ExecCommand

__all__ = ["Parser", "valid_name"]

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


class Parser(ManifestReader, CommandReader):
    """Walks one devfile document; ``parse`` is the entry point."""

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
                self.required(c, where).lower()
                for c, where in self.each(events.get(event), f"events.{event}")
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
