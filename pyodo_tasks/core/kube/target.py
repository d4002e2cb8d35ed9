"""Which cluster, context and namespace to talk to: kubectl's rules, then pyodo's overrides.

Precedence, stated once: explicit argument (task option, fixture, CLI flag) > ``PYODO_*``
environment variable > kubectl's own resolution (``KUBECONFIG`` > ``~/.kube/config``; the
current context; that context's namespace; ``default``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kubernetes.config import ConfigException
from kubernetes.config.kube_config import list_kube_config_contexts

from pyodo_tasks.errors import ClusterError, ConfigError

__all__ = ["ResolvedTarget", "Target", "kubeconfig_paths"]


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
        try:
            contexts, current = list_kube_config_contexts(config_file=kubeconfig)
        except ConfigException as exc:
            raise ClusterError(f"{kubeconfig}: cannot read kubeconfig: {exc}") from exc
        by_name = {c["name"]: c for c in contexts}
        if self.context is not None:
            if self.context not in by_name:
                raise ConfigError(
                    f"{kubeconfig}: no context {self.context!r} "
                    f"(have: {', '.join(sorted(by_name)) or 'none'})"
                )
            chosen = by_name[self.context]
        elif current:
            chosen = current
        else:
            raise ConfigError(f"{kubeconfig}: no current context; pass a context")
        namespace = self.namespace or chosen.get("context", {}).get("namespace") or "default"
        return ResolvedTarget(
            kubeconfig=kubeconfig,
            context=chosen["name"],
            namespace=namespace,
            namespace_explicit=self.namespace is not None,
        )
