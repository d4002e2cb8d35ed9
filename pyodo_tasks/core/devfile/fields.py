"""Typed readers for raw devfile YAML that keep each field's dotted path for error messages.

Why a base class apart from the document parser: every reader (mapping, string, quantity, env)
is generic and reused by every part of the document; the parser proper (:mod:`.parser`) then
reads like the devfile schema, one method per part.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pyodo_tasks.core.devfile.model import EnvVar
from pyodo_tasks.errors import DevfileError

__all__ = [
    "DNS1035_LABEL",
    "DNS1123_LABEL",
    "EVENTS",
    "EXPOSURES",
    "GROUP_KINDS",
    "MAX_NAME",
    "PROTOCOLS",
    "SCHEMA_VERSION",
    "FieldReader",
]

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_QUANTITY = re.compile(r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|[KMGTPE]i?|[mkMGTPE]?)$")
_VARIABLE = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")
SCHEMA_VERSION = re.compile(r"^2\.\d+\.\d+(-[0-9a-z-]+)?$")

#: Longest component name: the PVC is ``<name>-s2idata`` and Service/port names must fit too.
MAX_NAME = 47

EXPOSURES = ("public", "internal", "none")
PROTOCOLS = ("http", "https", "ws", "wss", "tcp", "udp", "sctp")
GROUP_KINDS = ("build", "run", "test", "debug", "deploy")
#: The devfile's ``events`` (lifecycle hooks), in the order they happen.
EVENTS = ("preStart", "postStart", "preStop", "postStop")


class FieldReader:
    """Reads raw YAML values, naming the field path in every error."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.variables: dict[str, str] = {}
        #: One-line messages for the user, each said once (see ``Devfile.notes``).
        self.notes: list[str] = []

    def note(self, where: str, message: str) -> None:
        line = f"{self.file.name}: {where}: {message}" if where else f"{self.file.name}: {message}"
        if line not in self.notes:
            self.notes.append(line)

    def fail(self, where: str, problem: str, fix: str = "") -> DevfileError:
        return DevfileError(self.file, where, problem, fix)

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

    def each(self, value: Any, where: str) -> Iterator[tuple[Any, str]]:
        """A list's items, each with where it stands (``where[i]``): what its messages name."""
        for i, item in enumerate(self.seq(value, where)):
            yield item, f"{where}[{i}]"

    def strings(self, value: Any, where: str) -> tuple[str, ...]:
        """A list of strings (``command``, ``args``); an empty item reads as ``""``."""
        return tuple(self.string(item, at) or "" for item, at in self.each(value, where))

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
                # odo warns and keeps the text: one undefined variable must not reject the file.
                self.note(
                    where,
                    f"undefined variable {{{{{name}}}}} left as written "
                    f"(define it under top-level 'variables')",
                )
                return match.group(0)
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
        for item, at in self.each(value, where):
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

    def check_name(self, name: str, where: str, pattern: re.Pattern[str], limit: int) -> None:
        if len(name) > limit or not pattern.match(name):
            first = "a letter" if pattern is DNS1035_LABEL else "a letter or digit"
            raise self.fail(
                where,
                f"{name!r} is not a valid name",
                f"use at most {limit} lowercase letters, digits and '-', starting with {first}"
                " and ending with a letter or digit",
            )
