"""Namespaces: create if missing, list by label, read the phase, delete."""

from __future__ import annotations

from kubernetes import client as k8s

from pyodo_tasks.core.kube.base import ABSENT, KubeBase

__all__ = ["NamespacesApi"]


class NamespacesApi(KubeBase):
    """Namespaces by name or label (pyodo's per-run namespaces, their teardown)."""

    def ensure_namespace(self, name: str, labels: dict[str, str]) -> bool:
        """Create a namespace if missing; True when this call created it."""
        body = k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name, labels=labels))
        result = self._call(
            f"create namespace {name}", self.core.create_namespace, body, tolerate=409
        )
        return result is not ABSENT

    def namespaces(self, selector: str) -> list[k8s.V1Namespace]:
        """Namespaces matching a label selector (needs cluster-wide list rights: a 403 is a
        ClusterError with ``status`` 403)."""
        return self._call(
            f"list namespaces with {selector}", self.core.list_namespace, label_selector=selector
        ).items

    def namespace_phase(self, name: str) -> str | None:
        """``Active``/``Terminating``, or None when the namespace does not exist."""
        result = self._call(f"read namespace {name}", self.core.read_namespace, name, tolerate=404)
        return None if result is ABSENT else result.status.phase

    def delete_namespace(self, name: str) -> bool:
        """Delete a namespace (and everything in it); False when it was already gone."""
        result = self._call(
            f"delete namespace {name}", self.core.delete_namespace, name, tolerate=404
        )
        return result is not ABSENT
