"""Which cluster, context and namespace to talk to: kubectl's rules, then pyodo's overrides.

The one kubeconfig resolver (the providers, the plugin's settings and the engine all use it).
Precedence, stated once: explicit argument (task option, fixture, CLI flag) > ``PYODO_*``
environment variable > kubectl's own resolution (``KUBECONFIG`` > ``~/.kube/config``; the
current context; that context's namespace; ``default``). Several files merge like kubectl
merges them: the first file to define a name (or ``current-context``) wins.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pyodo_tasks.errors import ConfigError

__all__ = ["ResolvedTarget", "Target", "kubeconfig_paths", "load_merged", "pick_context"]


def kubeconfig_paths(
    explicit: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
) -> list[Path]:
    """Return the kubeconfig files kubectl would load, in precedence order.

    ``explicit`` wins alone; else the non-empty entries of ``KUBECONFIG`` that exist (kubectl
    ignores missing ones); else ``~/.kube/config``.
    """
    env = os.environ if environ is None else environ
    if explicit:
        return [Path(explicit)]
    raw = env.get("KUBECONFIG", "")
    if raw:
        listed = [Path(p) for p in raw.split(os.pathsep) if p]
        existing = [p for p in listed if p.is_file()]
        if existing:
            return existing
        if listed:
            raise ConfigError(f"KUBECONFIG={raw} names no existing file (set it to a kubeconfig)")
    return [(home or Path.home()) / ".kube" / "config"]


def load_merged(files: list[Path]) -> dict[str, Any]:
    """Merge kubeconfig files like kubectl: the first file to set a name or key wins."""
    merged: dict[str, Any] = {"clusters": [], "users": [], "contexts": []}
    seen: dict[str, set[str]] = {k: set() for k in merged}
    for path in files:
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read kubeconfig {path}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"kubeconfig {path} is not UTF-8 text") from exc
        except (yaml.YAMLError, ValueError, RecursionError) as exc:
            raise ConfigError(f"kubeconfig {path} is not valid YAML") from exc
        if not isinstance(doc, dict):
            raise ConfigError(f"kubeconfig {path} is not a kubeconfig (a YAML mapping)")
        for key in ("clusters", "users", "contexts"):
            items = doc.get(key) or []
            if not isinstance(items, list) or not all(
                isinstance(i, dict) and isinstance(i.get("name"), (str, type(None))) for i in items
            ):
                raise ConfigError(f"kubeconfig {path}: {key} must be a list of named mappings")
            for item in items:
                if item.get("name") not in seen[key]:
                    seen[key].add(item.get("name"))
                    merged[key].append(item)
        if doc.get("current-context") and "current-context" not in merged:
            merged["current-context"] = doc["current-context"]
    return merged


def pick_context(merged: dict[str, Any], override: str | None = None) -> str:
    """Return the context to use: ``override`` if given (must exist), else current-context."""
    names = [c.get("name") for c in merged.get("contexts", [])]
    name = override or merged.get("current-context")
    if not name:
        raise ConfigError("kubeconfig has no current-context; pass a context name")
    if name not in names:
        have = ", ".join(sorted(str(n) for n in names)) or "none"
        raise ConfigError(f"context {name!r} not found in kubeconfig (have: {have})")
    return str(name)


@dataclass(frozen=True)
class ResolvedTarget:
    """A target with every field decided: what the client will actually use."""

    kubeconfig: str
    context: str
    namespace: str
    #: Whether the namespace was named by the user (else it came from the context or default).
    namespace_explicit: bool = False


@dataclass(frozen=True)
class Target:
    """A partly specified target; ``None`` fields are resolved like kubectl does."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **explicit: str | None) -> Target:
        """Explicit values first, then ``PYODO_{KUBECONFIG,CONTEXT,NAMESPACE}``."""
        env = os.environ if environ is None else environ
        values = {}
        for field in ("kubeconfig", "context", "namespace"):
            value = explicit.get(field) or env.get(f"PYODO_{field.upper()}") or None
            values[field] = value
        return cls(**values)

    def resolve(self, environ: Mapping[str, str] | None = None) -> ResolvedTarget:
        paths = [p for p in kubeconfig_paths(self.kubeconfig, environ) if p.is_file()]
        if not paths:
            raise ConfigError(
                "no kubeconfig found (flag, KUBECONFIG, ~/.kube/config): boot the local "
                "cluster (python -m pyodo_tasks.cluster up) or set KUBECONFIG"
            )
        kubeconfig = os.pathsep.join(str(p) for p in paths)
        merged = load_merged(paths)
        try:
            name = pick_context(merged, self.context)
        except ConfigError as exc:
            raise ConfigError(f"{kubeconfig}: {exc}") from exc
        chosen = next(c for c in merged["contexts"] if c.get("name") == name)
        context = chosen.get("context") or {}
        if not isinstance(context, dict):
            raise ConfigError(f"{kubeconfig}: context {name!r} is not a mapping")
        namespace = self.namespace or context.get("namespace") or "default"
        return ResolvedTarget(
            kubeconfig=kubeconfig,
            context=name,
            namespace=namespace,
            namespace_explicit=self.namespace is not None,
        )
