"""Pods and what they tell: the component's pods, their logs and events; the nodes' images."""

from __future__ import annotations

from collections.abc import Iterable

from kubernetes import client as k8s

from pyodo_tasks.core.kube.base import ABSENT, KubeBase

__all__ = ["PodsApi"]


class PodsApi(KubeBase):
    """List and delete pods, read their logs and events, and what images the nodes hold."""

    def pods(self, selector: str, namespace: str | None = None) -> list[k8s.V1Pod]:
        namespace = namespace or self.namespace
        doing = f"list pods with {selector} in {namespace}"
        return self._call(
            doing, self.core.list_namespaced_pod, namespace, label_selector=selector
        ).items

    def node_images(self) -> list[set[str]] | None:
        """The image names each schedulable node reports having (``status.images``); None
        when nodes may not be listed (a namespaced user): callers then assume none."""
        nodes = self._call("list nodes", self.core.list_node, tolerate=403)
        if nodes is ABSENT:
            return None
        found = []
        for node in nodes.items:
            if node.spec is not None and node.spec.unschedulable:
                continue
            images = (node.status.images or []) if node.status is not None else []
            found.append({name for image in images for name in image.names or []})
        return found

    def logs(
        self,
        pod: str,
        container: str | None = None,
        tail_lines: int | None = 200,
        namespace: str | None = None,
        previous: bool = False,
    ) -> str:
        namespace = namespace or self.namespace
        # Raw bytes: the generated client returns str(bytes) ("b'...'") for this endpoint.
        response = self._call(
            f"read logs of pod/{pod}",
            self.core.read_namespaced_pod_log,
            pod,
            namespace,
            container=container,
            tail_lines=tail_lines,
            previous=previous,
            _preload_content=False,
        )
        return response.data.decode("utf-8", "replace")

    def events(self, names: Iterable[str], namespace: str | None = None) -> list[k8s.CoreV1Event]:
        """Recent events about objects with these names (pods match by prefix), oldest first."""
        namespace = namespace or self.namespace
        wanted = tuple(names)
        items = self._call(
            f"list events in {namespace}", self.core.list_namespaced_event, namespace
        ).items
        hits = [e for e in items if e.involved_object.name.startswith(wanted)]
        return sorted(hits, key=lambda e: str(e.last_timestamp or e.event_time or ""))

    def delete_pod(self, name: str, namespace: str | None = None) -> bool:
        """Delete one pod (its Deployment starts another); False when it was already gone."""
        namespace = namespace or self.namespace
        doing = f"delete pod/{name} in {namespace}"
        result = self._call(doing, self.core.delete_namespaced_pod, name, namespace, tolerate=404)
        return result is not ABSENT
