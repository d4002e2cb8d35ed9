"""Objects of any kind: server-side apply, read, delete, and list or delete by label.

The kinds pyodo renders (:data:`~.base.KINDS`) go through the typed client; any other kind (a
devfile's kubernetes component) through a discovery-backed dynamic client, built on first use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Any

from kubernetes import client as k8s

from pyodo_tasks.core.kube.base import ABSENT, KINDS, KubeBase
from pyodo_tasks.core.kube.errors import translated
from pyodo_tasks.errors import ClusterError

__all__ = ["FIELD_MANAGER", "ObjectsApi"]

FIELD_MANAGER = "pyodo"


class ObjectsApi(KubeBase):
    """Apply, read, delete and list objects; ``Kind/name`` in every message."""

    @cached_property
    def dynamic(self) -> Any:
        """A discovery-backed client for kinds pyodo has no typed method for (devfile
        kubernetes components); built on first use, as discovery costs requests."""
        from kubernetes.dynamic import DynamicClient

        with translated("discover the cluster's API resources", kubeconfig=self.target.kubeconfig):
            return DynamicClient(self.api)

    def _resource(self, obj: Mapping[str, Any]) -> Any:
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        api_version, kind = obj["apiVersion"], obj["kind"]
        try:
            return self.dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError as exc:
            raise ClusterError(
                f"the cluster serves no {kind} in {api_version} (is its CRD installed?)"
            ) from exc

    def _typed(self, obj: Mapping[str, Any]) -> bool:
        group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else "core"
        return obj["kind"] in KINDS and KINDS[obj["kind"]][0] == group

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply under pyodo's field manager, taking over conflicting fields."""
        if not self._typed(obj):
            return self._apply_dynamic(obj)
        kind, name = obj["kind"], obj["metadata"]["name"]
        namespace = obj["metadata"].get("namespace") or self.namespace
        result = self._call(
            f"apply {kind}/{name} in {namespace}",
            self._method("patch", kind),
            name,
            namespace,
            obj,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type="application/apply-patch+yaml",
        )
        return self.to_dict(result)

    def _apply_dynamic(self, obj: dict[str, Any]) -> dict[str, Any]:
        resource = self._resource(obj)
        name = obj["metadata"]["name"]
        namespace = (
            (obj["metadata"].get("namespace") or self.namespace) if resource.namespaced else None
        )
        result = self._call(
            f"apply {obj['kind']}/{name}" + (f" in {namespace}" if namespace else ""),
            resource.server_side_apply,
            body=obj,
            name=name,
            namespace=namespace,
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
        return dict(result.to_dict())

    def delete_object(self, obj: Mapping[str, Any]) -> bool:
        """Delete the object a manifest describes, whatever its kind; False when gone."""
        name = obj["metadata"]["name"]
        if self._typed(obj):
            return self.delete(obj["kind"], name, obj["metadata"].get("namespace"))
        resource = self._resource(obj)
        namespace = (
            (obj["metadata"].get("namespace") or self.namespace) if resource.namespaced else None
        )
        doing = f"delete {obj['kind']}/{name}"
        result = self._call(doing, resource.delete, name=name, namespace=namespace, tolerate=404)
        return result is not ABSENT

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object as a dict, or None when it does not exist."""
        namespace = namespace or self.namespace
        doing = f"read {kind}/{name} in {namespace}"
        result = self._call(doing, self._method("read", kind), name, namespace, tolerate=404)
        return None if result is ABSENT else self.to_dict(result)

    def delete(self, kind: str, name: str, namespace: str | None = None) -> bool:
        """Delete one object (foreground for workloads); False when it was already gone."""
        namespace = namespace or self.namespace
        body = k8s.V1DeleteOptions(
            propagation_policy="Foreground" if kind == "Deployment" else "Background"
        )
        doing = f"delete {kind}/{name} in {namespace}"
        result = self._call(
            doing, self._method("delete", kind), name, namespace, body=body, tolerate=404
        )
        return result is not ABSENT

    def list_labelled(
        self, selector: str, namespace: str | None = None, kinds: Iterable[str] = KINDS
    ) -> list[dict[str, Any]]:
        """Every object of pyodo's kinds matching a label selector, as dicts."""
        namespace = namespace or self.namespace
        found = []
        for kind in kinds:
            doing = f"list {kind} with {selector} in {namespace}"
            items = self._call(
                doing, self._method("list", kind), namespace, label_selector=selector
            ).items
            for item in items:
                obj = self.to_dict(item)
                obj["kind"] = kind
                found.append(obj)
        return found

    def delete_labelled(self, selector: str, namespace: str | None = None) -> list[str]:
        """Delete every object matching the selector; returns ``Kind/name`` of what went."""
        gone = []
        for obj in self.list_labelled(selector, namespace):
            name = obj["metadata"]["name"]
            if self.delete(obj["kind"], name, obj["metadata"]["namespace"]):
                gone.append(f"{obj['kind']}/{name}")
        return gone
