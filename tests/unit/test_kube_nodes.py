"""``Kube.node_images``: what the layout ``auto`` reads of the nodes, on the client's models."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from kubernetes import client as k8s

from pyodo_tasks.core.kube.client import Kube


def _kube(nodes: list[k8s.V1Node]) -> Kube:
    kube = object.__new__(Kube)  # no kubeconfig: only the REST call is stood in for
    kube.core = SimpleNamespace(list_node=lambda: k8s.V1NodeList(items=nodes))  # type: ignore[assignment]
    return kube


def _node(images: Any, *, status: bool = True, unschedulable: bool = False) -> k8s.V1Node:
    return k8s.V1Node(
        spec=k8s.V1NodeSpec(unschedulable=unschedulable),
        status=k8s.V1NodeStatus(images=images) if status else None,
    )


def test_node_images_skip_unschedulable_nodes_and_nameless_images() -> None:
    nodes = [
        _node([k8s.V1ContainerImage(names=["a:1", "a@sha256:x"]), k8s.V1ContainerImage()]),
        _node([k8s.V1ContainerImage(names=["b:1"])], unschedulable=True),
    ]
    assert _kube(nodes).node_images() == [{"a:1", "a@sha256:x"}]


def test_a_node_without_a_status_yet_has_no_images() -> None:
    assert _kube([_node(None, status=False), _node(None)]).node_images() == [set(), set()]
