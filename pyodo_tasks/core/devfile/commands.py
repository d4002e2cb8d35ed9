"""The commands part of a devfile: exec, composite and apply commands, their groups.

Why apart from the document (:mod:`.parser`): commands have rules of their own (ids unique
whatever their case, one default per group, composites naming known commands without a cycle,
``$PROJECT_SOURCE`` and the container's env expanded in an exec command) and read the
components only through the containers and names handed to them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from pyodo_tasks.core.devfile.fields import DNS1123_LABEL, GROUP_KINDS, FieldReader
from pyodo_tasks.core.devfile.model import (
    DEFAULT_SOURCE_DIR,
    ApplyCommand,
    Command,
    CompositeCommand,
    Container,
    ExecCommand,
)

__all__ = ["CommandReader"]

_SHELL_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")

#: What an ``apply`` command is for (the devfile spec), offered when it names no component.
APPLICABLE_KINDS = ("kubernetes", "openshift", "image")
EXEC_FIELDS = (
    "commandLine",
    "component",
    "workingDir",
    "env",
    "hotReloadCapable",
    "group",
    "label",
)


class CommandReader(FieldReader):
    """Reads ``commands``, after the components (an ``apply`` command names one)."""

    #: Every component's name and kind (set by :class:`~.components.ComponentReader`).
    component_kinds: dict[str, str]

    def commands(self, raw: Any, containers: Sequence[Container]) -> tuple[Command, ...]:
        commands: list[Command] = []
        ids: set[str] = set()
        for item, at in self.each(raw, "commands"):
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
            self.required(c, where).lower()
            for c, where in self.each(raw.get("commands"), f"{at}.commands")
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
        """Two defaults in one group are invalid (the devfile API's error). Several commands
        and none default is only its warning: odo refuses such a group when it needs the
        command and no ``--run-command`` picks one, so pyodo does too, at the push
        (:meth:`~.model.Devfile.with_commands`, :func:`~pyodo_tasks.core.render.render`)."""
        for kind in ("build", "run", "debug"):
            defaults = [c.id for c in commands if c.group == kind and c.is_default]
            if len(defaults) > 1:
                raise self.fail(
                    "commands",
                    f"several default {kind} commands: {defaults}",
                    "mark exactly one with group.isDefault: true",
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
