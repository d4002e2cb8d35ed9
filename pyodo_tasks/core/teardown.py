"""Deleting a component's objects by its labels, with or without a devfile that loads.

``doit delete`` is what a user reaches for when things went wrong, and a devfile broken
half-way through an edit must not keep them from cleaning up. Every object pyodo creates
carries the component's name in its labels, so the name is all a delete needs. Without a
devfile that loads, the name comes from the state pyodo keeps beside the component
(``.pyodo/state-<key>.json`` records it at every apply, ``key`` hashing context, namespace and
name, so the file also says which target it belongs to), and failing that from the directory
name, as the parser derives a missing ``metadata.name``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyodo_tasks.core.devfile.parser import valid_name
from pyodo_tasks.core.render import COMPONENT_LABEL, KUBERNETES_COMPONENT_LABEL, component_selector

if TYPE_CHECKING:
    from pyodo_tasks.core.kube import Kube

__all__ = ["Orphan", "delete_labelled_component", "orphan_of", "state_key"]

STATE_PREFIX = "state-"


def state_key(context: str, namespace: str, name: str) -> str:
    """The key of a component's state files on one target (``state-<key>.json``)."""
    return hashlib.sha256(f"{context}/{namespace}/{name}".encode()).hexdigest()[:12]


def delete_labelled_component(
    kube: Kube, name: str, timeout: float, manifests: Iterable[Mapping[str, Any]] = ()
) -> list[str]:
    """Delete the objects labelled as component ``name``'s and wait (bounded) until they are
    gone; ``manifests`` are objects of other kinds to delete by name (from a devfile)."""
    pods = ",".join(f"{k}={v}" for k, v in component_selector(name).items())
    gone = kube.delete_labelled(pods)
    # Objects of the devfile's Kubernetes components carry no selector label (see
    # render._manifests): those of Kube's kinds by their own labels (also what an earlier
    # devfile created), any other kind by name.
    gone += kube.delete_labelled(f"{COMPONENT_LABEL}={name},{KUBERNETES_COMPONENT_LABEL}")
    for obj in manifests:
        if kube.delete_object(obj):
            gone.append(f"{obj['kind']}/{obj['metadata']['name']}")
    what = f"component {name} objects to be deleted"
    kube.wait_labelled_gone(pods, what, timeout, pods=pods, interval=0.5)
    return gone


@dataclass(frozen=True)
class Orphan:
    """A component known only by name: where the name came from and its local state files."""

    name: str
    source: str
    state_files: tuple[Path, ...]


def _recorded_name(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else None


def orphan_of(directory: Path, state_dir: Path, context: str, namespace: str) -> Orphan:
    """The component of ``directory`` on this target, named without its devfile."""
    for path in sorted(state_dir.glob(f"{STATE_PREFIX}*.json")):
        name = _recorded_name(path)
        key = path.stem.removeprefix(STATE_PREFIX)
        if name is not None and state_key(context, namespace, name) == key:
            return Orphan(name, f"{path}", _state_files(state_dir, key))
    dirname = directory.resolve().name
    name = valid_name(dirname)
    files = _state_files(state_dir, state_key(context, namespace, name))
    return Orphan(name, f"the directory name {dirname!r}", files)


def _state_files(state_dir: Path, key: str) -> tuple[Path, ...]:
    """The state file and the file index kept for ``key`` (whatever their suffixes)."""
    return tuple(sorted(p for p in state_dir.glob(f"*{key}*") if p.is_file()))
