"""Write kubeconfig files (the providers hand them out).

Which kubeconfig and context to *use* is decided in one place, the engine's resolver
(:mod:`pyodo_tasks.core.kube.target`: kubectl's precedence and merge rules).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import yaml


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
