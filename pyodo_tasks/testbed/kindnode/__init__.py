"""A kind node image built on this machine, for clusters that cannot pull ``kindest/node``.

``ensure_node_image()`` returns the cached docker-archive (building it when its recipe changed):
Debian's systemd, containerd, runc and CNI plugins; the project's kubelet, kubeadm and kubectl;
kind's own node files from the ``sigs.k8s.io/kind`` module; the control-plane, kube-proxy, etcd
and pause images pre-loaded. See :mod:`.node` for the layers and why each change to kind's files.
"""

from __future__ import annotations

from pyodo_tasks.testbed.kindnode.node import NodeImage, ensure_node_image

__all__ = ["NodeImage", "ensure_node_image"]
