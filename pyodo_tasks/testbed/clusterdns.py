"""Cluster DNS from the CoreDNS built here: kubeadm's CoreDNS objects, and CoreDNS's image.

Why: no registry reachable here serves CoreDNS's image. The kind node image pre-loads it and
kubeadm deploys it there. The local cluster has no kubeadm, so this module renders the objects
kubeadm v1.36 applies (ServiceAccount, ClusterRole and binding, the ``coredns`` ConfigMap with
kubeadm's Corefile, the Deployment and the ``kube-dns`` Service) for a namespace and ClusterIP of
the caller's choice, and writes CoreDNS's image as a docker-archive to import. The local cluster
uses them when asked to (``PYODO_CLUSTER_DNS=1``); a test runs them in a namespace of its own.

The differences from kubeadm's objects: one replica (one node), no anti-affinity, and the
``system-cluster-critical`` priority only in ``kube-system`` (the API server admits it nowhere
else).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable

from pyodo_tasks.testbed import settings
from pyodo_tasks.testbed.images import build as images_build
from pyodo_tasks.testbed.images.archive import write_docker_archive
from pyodo_tasks.testbed.kindnode import gobins
from pyodo_tasks.testbed.kindnode.components import ComponentImage, coredns_image

__all__ = [
    "CLUSTER_DOMAIN",
    "DNS_ENV",
    "LOCAL_DNS_IP",
    "coredns_archive",
    "coredns_component",
    "corefile",
    "objects",
]

#: Environment variable that gives the local cluster cluster DNS (``1``); off by default.
DNS_ENV = settings.CLUSTER_DNS
#: The local cluster's DNS Service address (the tenth of its 10.96.0.0/24, as kubeadm picks).
LOCAL_DNS_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
SERVICE = "kube-dns"
DEPLOYMENT = "coredns"
LABELS = {"k8s-app": "kube-dns"}


def coredns_component() -> ComponentImage:
    """CoreDNS's image (the name kubeadm uses) from the binary :func:`gobins.ensure_coredns`
    builds."""
    return coredns_image(gobins.coredns_binary_path(), gobins.COREDNS_VERSION)


def coredns_archive(log: Callable[[str], None] | None = None) -> images_build.ImageArchive:
    """CoreDNS's image as a docker-archive in the images cache (built once per binary)."""
    image = coredns_component()
    binary = gobins.ensure_coredns()
    stamp = binary.with_name(f".{binary.name}.json")
    # The binary's build stamp and the image's name and config: a rebuild is a new archive.
    recipe = json.dumps([image.ref, image.config("").to_json()]).encode() + stamp.read_bytes()
    key = hashlib.sha256(recipe).hexdigest()[:16]
    directory = images_build.images_dir()
    path = directory / f"coredns-{key}.tar"
    if not path.is_file():
        started = time.monotonic()
        work = directory / "work" / f"coredns-{key}"
        work.mkdir(parents=True, exist_ok=True)
        layer = work / "layer.tar"
        image.write_top_layer(layer)
        write_docker_archive(path, image.ref, [layer], image.config(f"pyodo {binary}"))
        layer.unlink()
        work.rmdir()
        for old in directory.glob("coredns-*.tar"):
            if old != path:
                old.unlink(missing_ok=True)
        if log is not None:
            log(f"coredns image archive written in {time.monotonic() - started:.1f}s")
    return images_build.ImageArchive("coredns", image.ref, path)


def corefile(domain: str = CLUSTER_DOMAIN) -> str:
    """kubeadm v1.36's Corefile for ``domain``."""
    return f"""\
.:53 {{
    errors
    health {{
       lameduck 5s
    }}
    ready
    kubernetes {domain} in-addr.arpa ip6.arpa {{
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }}
    prometheus :9153
    forward . /etc/resolv.conf {{
       max_concurrent 1000
    }}
    cache 30 {{
       disable success {domain}
       disable denial {domain}
    }}
    loop
    reload
    loadbalance
}}
"""


def _rbac(namespace: str) -> list[dict]:
    role = "system:coredns" if namespace == "kube-system" else f"pyodo:coredns:{namespace}"
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": role},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": role},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [{"kind": "ServiceAccount", "name": DEPLOYMENT, "namespace": namespace}],
        },
    ]


def _container(image: str) -> dict:
    ports = [
        {"containerPort": 53, "name": "dns", "protocol": "UDP"},
        {"containerPort": 53, "name": "dns-tcp", "protocol": "TCP"},
        {"containerPort": 9153, "name": "metrics", "protocol": "TCP"},
        {"containerPort": 8080, "name": "liveness-probe", "protocol": "TCP"},
        {"containerPort": 8181, "name": "readiness-probe", "protocol": "TCP"},
    ]
    return {
        "name": "coredns",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["-conf", "/etc/coredns/Corefile"],
        "resources": {
            "limits": {"memory": "170Mi"},
            "requests": {"cpu": "100m", "memory": "70Mi"},
        },
        "volumeMounts": [{"name": "config-volume", "mountPath": "/etc/coredns", "readOnly": True}],
        "ports": ports,
        "livenessProbe": {
            "httpGet": {"path": "/health", "port": "liveness-probe"},
            "initialDelaySeconds": 60,
            "timeoutSeconds": 5,
            "failureThreshold": 5,
        },
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "readiness-probe"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
        },
    }


def _deployment(namespace: str, image: str) -> dict:
    spec: dict = {
        "serviceAccountName": DEPLOYMENT,
        "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "containers": [_container(image)],
        "dnsPolicy": "Default",
        "volumes": [
            {
                "name": "config-volume",
                "configMap": {
                    "name": DEPLOYMENT,
                    "items": [{"key": "Corefile", "path": "Corefile"}],
                },
            }
        ],
    }
    if namespace == "kube-system":
        spec["priorityClassName"] = "system-cluster-critical"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": DEPLOYMENT, "namespace": namespace, "labels": dict(LABELS)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(LABELS)},
            "template": {"metadata": {"labels": dict(LABELS)}, "spec": spec},
        },
    }


def _service(namespace: str, cluster_ip: str | None) -> dict:
    spec: dict = {
        "selector": dict(LABELS),
        "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
            {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
        ],
    }
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": SERVICE, "namespace": namespace, "labels": dict(LABELS)},
        "spec": spec,
    }


def objects(
    namespace: str = "kube-system",
    cluster_ip: str | None = LOCAL_DNS_IP,
    domain: str = CLUSTER_DOMAIN,
    image: str | None = None,
) -> list[dict]:
    """kubeadm's CoreDNS objects in ``namespace``; ``cluster_ip=None`` lets the API pick one."""
    image = image or coredns_component().ref
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": DEPLOYMENT, "namespace": namespace},
        },
        *_rbac(namespace),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": DEPLOYMENT, "namespace": namespace},
            "data": {"Corefile": corefile(domain)},
        },
        _deployment(namespace, image),
        _service(namespace, cluster_ip),
    ]
