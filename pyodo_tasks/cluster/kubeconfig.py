"""Write kubeconfig files and resolve which one to use, with kubectl's precedence.

kubectl's order: an explicit ``--kubeconfig`` path, else every file in ``KUBECONFIG`` (merged,
first file wins per key), else ``~/.kube/config``.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import yaml

from pyodo_tasks.core.kube.target import kubeconfig_paths
from pyodo_tasks.errors import ConfigError


def render(
    cluster: str, server: str, ca_pem: bytes, user: str, cert_pem: bytes, key_pem: bytes
) -> str:
    """Return a self-contained kubeconfig (certs embedded) with one context named ``cluster``."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster,
                "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)},
            }
        ],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
        "current-context": cluster,
        "preferences": {},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def write(path: Path, text: str) -> Path:
    """Write a kubeconfig readable only by its owner (it holds a private key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    return path


#: kubectl's lookup (flag > KUBECONFIG > ~/.kube/config), owned by the engine's target module.
resolve_paths = kubeconfig_paths


def load_merged(files: list[Path]) -> dict:
    """Merge kubeconfig files like kubectl: the first file to set a name or key wins."""
    merged: dict = {"clusters": [], "users": [], "contexts": []}
    seen: dict[str, set[str]] = {k: set() for k in merged}
    for path in files:
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read kubeconfig {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"kubeconfig {path} is not valid YAML") from exc
        for key in ("clusters", "users", "contexts"):
            for item in doc.get(key) or []:
                if item.get("name") not in seen[key]:
                    seen[key].add(item.get("name"))
                    merged[key].append(item)
        if doc.get("current-context") and "current-context" not in merged:
            merged["current-context"] = doc["current-context"]
    return merged


def pick_context(merged: dict, override: str | None = None) -> str:
    """Return the context to use: ``override`` if given (must exist), else current-context."""
    names = [c.get("name") for c in merged.get("contexts", [])]
    name = override or merged.get("current-context")
    if not name:
        raise ConfigError("kubeconfig has no current-context; pass a context name")
    if name not in names:
        raise ConfigError(f"context {name!r} not found in kubeconfig (have: {', '.join(names)})")
    return name
