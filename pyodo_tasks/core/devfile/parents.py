"""Resolving ``parent:``: fetch the parent (path, uri or registry id), override, merge.

The result is one raw devfile document with no ``parent`` left, handed to the parser as if
the user had written it whole. A parent may have a parent of its own (bounded depth, cycles
refused). Relative ``uri``s inside a parent (a kubernetes component's manifest, say) are made
absolute against where the parent came from, so they still resolve once merged into the child.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from pyodo_tasks.core.devfile.merge import OVERRIDABLE, MergeConflict, apply_overrides, merge_parent
from pyodo_tasks.core.devfile.registry import (
    Fetched,
    FetchError,
    fetch_from_registries,
    fetch_uri,
)
from pyodo_tasks.errors import DevfileError

__all__ = ["MAX_DEPTH", "resolve_parents"]

MAX_DEPTH = 8
REFERENCE = ("uri", "id", "version", "registryUrl", "kubernetes")


def resolve_parents(raw: Any, file: Path, registries: Sequence[str], notes: list[str]) -> Any:
    """``raw`` with its parent chain merged in; ``notes`` gets the lines worth saying."""
    return _resolve(raw, file, str(file.parent), registries, notes, ())


def _resolve(
    raw: Any,
    file: Path,
    origin: str,
    registries: Sequence[str],
    notes: list[str],
    chain: tuple[str, ...],
) -> Any:
    if not isinstance(raw, dict) or raw.get("parent") is None:
        return raw
    parent = raw["parent"]
    if not isinstance(parent, dict):
        raise DevfileError(file, "parent", f"expected a mapping, got {type(parent).__name__}")
    unknown = [k for k in parent if k not in (*REFERENCE, *OVERRIDABLE)]
    if unknown:
        raise DevfileError(
            file,
            f"parent.{unknown[0]}",
            "unknown field",
            f"use one of: {', '.join((*REFERENCE, *OVERRIDABLE))}",
        )
    fetched, label = _fetch(parent, file, origin, registries)
    if label in chain or len(chain) >= MAX_DEPTH:
        raise DevfileError(file, "parent", f"parent chain loops or is too deep at {label}", "")
    if fetched.note:
        notes.append(f"{file.name}: parent: {fetched.note}")
    field = "parent.uri" if parent.get("uri") else "parent.id"
    try:
        content = yaml.safe_load(fetched.text)
    except (yaml.YAMLError, ValueError, RecursionError) as exc:  # ValueError: e.g. 2020-13-45
        raise DevfileError(file, field, f"{label} is not valid YAML", "fix the parent") from exc
    if not isinstance(content, dict):
        raise DevfileError(file, field, f"{label} is not a devfile", "check the reference")
    content = _resolve(content, file, fetched.origin, registries, notes, (*chain, label))
    content = _absolute_uris(content, fetched.origin)
    overrides = {k: v for k, v in parent.items() if k in OVERRIDABLE}
    try:
        return merge_parent(apply_overrides(content, overrides), raw)
    except MergeConflict as exc:
        raise DevfileError(file, exc.field, f"{exc.problem} (parent {label})", exc.fix) from exc


def _fetch(
    parent: Mapping[str, Any], file: Path, origin: str, registries: Sequence[str]
) -> tuple[Fetched, str]:
    """The parent's text and a label naming it for messages."""
    for key in ("uri", "id", "version", "registryUrl"):
        value = parent.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, str | int | float)
        ):
            raise DevfileError(
                file, f"parent.{key}", f"expected a string, got {type(value).__name__}"
            )
    try:
        if parent.get("uri"):
            uri = str(parent["uri"])
            return fetch_uri(uri, origin), uri
        if parent.get("id"):
            stack = str(parent["id"])
            version = str(parent["version"]) if parent.get("version") else None
            own = [str(parent["registryUrl"])] if parent.get("registryUrl") else []
            label = f"{stack}:{version or 'default'}"
            return fetch_from_registries(stack, version, [*registries, *own]), label
    except FetchError as exc:
        where = "parent.uri" if parent.get("uri") else "parent.id"
        raise DevfileError(file, where, exc.problem, exc.fix) from exc
    if parent.get("kubernetes"):
        raise DevfileError(
            file,
            "parent.kubernetes",
            "parents from a DevWorkspaceTemplate in the cluster are not supported",
            "use parent.uri or parent.id",
        )
    raise DevfileError(file, "parent", "names no parent", "add uri, or id (+ version)")


def _absolute_uris(content: dict[str, Any], origin: str) -> dict[str, Any]:
    """Make the parent's relative component ``uri``s absolute against ``origin``."""
    components = content.get("components")
    if not isinstance(components, list):
        return content
    fixed = []
    for item in components:
        if isinstance(item, dict):
            item = dict(item)
            for kind in ("kubernetes", "openshift"):
                body = item.get(kind)
                if isinstance(body, dict) and isinstance(body.get("uri"), str):
                    item[kind] = {**body, "uri": _join(origin, body["uri"])}
        fixed.append(item)
    return {**content, "components": fixed}


def _join(origin: str, uri: str) -> str:
    if urllib.parse.urlparse(uri).scheme in ("http", "https", "file") or uri.startswith("/"):
        return uri
    if origin.startswith(("http://", "https://")):
        return urllib.parse.urljoin(origin, uri)
    return str(Path(origin) / uri)
