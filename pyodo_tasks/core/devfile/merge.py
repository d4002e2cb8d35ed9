"""Flattening a child devfile onto its parent, as the devfile spec (and odo) define it.

Two steps, both on raw YAML mappings, before the parser validates the result:

1. **override**: the fields written under ``parent:`` beside its reference (``components``,
   ``commands``, ``projects``, ``starterProjects``, ``variables``, ``attributes``) patch the
   parent's content. Lists of named elements merge by ``name`` (``id`` for commands), mappings
   merge key by key, anything else is replaced, ``null`` removes. An override may only touch
   elements the parent has (the spec: new elements belong in the child's body).
2. **merge**: the child's own elements are added after the parent's; a child element with the
   name of a parent element is an error (the spec asks to override it under ``parent:``).
   ``variables`` and ``attributes``: the child's win; ``events``: union, parent first.

Why by hand rather than a library: the spec's rule is Kubernetes' strategic merge with the
devfile schema's merge keys, which no maintained Python package implements for devfiles.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyodo_tasks.core.devfile.fields import EVENTS

__all__ = ["OVERRIDABLE", "apply_overrides", "merge_parent"]

#: Top-level lists of named elements and the key they merge by.
KEYED_LISTS = {
    "components": "name",
    "commands": "id",
    "projects": "name",
    "starterProjects": "name",
}
#: Nested lists that merge by ``name`` inside an element (the schema's patchMergeKey).
NESTED_KEYED = ("endpoints", "env", "volumeMounts")
#: What a ``parent:`` block may override besides its reference fields.
OVERRIDABLE = ("components", "commands", "projects", "starterProjects", "variables", "attributes")


class MergeConflict(ValueError):
    """A merge the spec forbids: ``field`` names where, the message what and how to fix."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem
        self.fix = fix


def _as_list(value: Any, field: str) -> list[Any]:
    """A top-level list of either document, checked before merging (the parser checks the
    elements later, on the merged result)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise MergeConflict(field, f"expected a list, got {type(value).__name__}", "")
    return list(value)


def _as_mapping(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MergeConflict(field, f"expected a mapping, got {type(value).__name__}", "")
    return dict(value)


def _key(item: Any, key: str) -> str | None:
    if isinstance(item, dict) and item.get(key) is not None:
        return str(item[key]).lower() if key == "id" else str(item[key])
    return None


def _patch(base: Any, patch: Any, field: str) -> Any:
    """Strategic-merge ``patch`` onto ``base`` (both raw YAML)."""
    if isinstance(base, dict) and isinstance(patch, dict):
        result = dict(base)
        if field == "attributes":
            # Attribute values are opaque: each key is replaced whole, never merged inside.
            result.update(patch)
            return {k: v for k, v in result.items() if v is not None}
        for name, value in patch.items():
            if value is None:
                result.pop(name, None)
            elif name in result:
                result[name] = _patch(result[name], value, name)
            else:
                result[name] = value
        return result
    if isinstance(base, list) and isinstance(patch, list) and field in NESTED_KEYED:
        return _patch_list(base, patch, "name", field)
    return patch


def _patch_list(base: list, patch: list, key: str, field: str) -> list:
    result = list(base)
    index = {_key(item, key): i for i, item in enumerate(result) if _key(item, key)}
    for item in patch:
        name = _key(item, key)
        if name is not None and name in index:
            result[index[name]] = _union_switch(result[index[name]], item, field)
        else:
            result.append(item)
    return result


def _union_switch(base: dict, patch: dict, field: str) -> dict:
    """Patch one element; a patch naming another kind (``container`` → ``kubernetes``)
    replaces the kind, as the schema's unions do."""
    kinds: tuple[str, ...] = (
        "container",
        "volume",
        "kubernetes",
        "openshift",
        "image",
        "custom",
        "plugin",
    )
    kinds += ("exec", "composite", "apply")
    new = [k for k in kinds if k in patch]
    if new and not any(k in base for k in new):
        base = {k: v for k, v in base.items() if k not in kinds}
    return _patch(base, patch, field)


def apply_overrides(parent: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The parent's content with the child's ``parent:`` overrides applied."""
    result = dict(parent)
    for field, key in KEYED_LISTS.items():
        patch = overrides.get(field)
        if not patch:
            continue
        if not isinstance(patch, list):
            raise MergeConflict(
                f"parent.{field}", f"expected a list, got {type(patch).__name__}", ""
            )
        existing = {_key(item, key) for item in _as_list(result.get(field), field)}
        new = [_key(item, key) for item in patch if _key(item, key) not in existing]
        if new:
            raise MergeConflict(
                f"parent.{field}",
                f"overrides {', '.join(map(str, new))}, which the parent does not define",
                "define new elements in the child's own top-level list",
            )
        result[field] = _patch_list(_as_list(result.get(field), field), patch, key, field)
    for field in ("variables", "attributes"):
        if overrides.get(field):
            base = _as_mapping(result.get(field), field)
            result[field] = _patch(base, overrides[field], "attributes")
    return result


def merge_parent(parent: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    """The child's document with the (already overridden) parent's content merged in."""
    result = {k: v for k, v in child.items() if k != "parent"}
    for field, key in KEYED_LISTS.items():
        mine = _as_list(child.get(field), field)
        theirs = _as_list(parent.get(field), field)
        if not theirs:
            continue
        taken = {k for k in (_key(item, key) for item in theirs) if k is not None}
        clash = sorted({n for n in (_key(item, key) for item in mine) if n in taken})
        if clash:
            raise MergeConflict(
                field,
                f"{', '.join(clash)} already defined in the parent",
                "override it under parent." + field + " instead",
            )
        result[field] = theirs + mine
    for field in ("variables", "attributes"):
        merged = {**_as_mapping(parent.get(field), field), **_as_mapping(child.get(field), field)}
        if merged:
            result[field] = merged
    events = _merge_events(parent.get("events"), child.get("events"))
    if events:
        result["events"] = events
    return result


def _merge_events(parent: Any, child: Any) -> dict[str, list[Any]]:
    merged: dict[str, list[Any]] = {}
    for source in (parent, child):
        if not isinstance(source, dict):
            continue
        for name in EVENTS:
            for command in source.get(name) or []:
                merged.setdefault(name, [])
                if command not in merged[name]:
                    merged[name].append(command)
    return merged
