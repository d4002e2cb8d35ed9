"""Objects every local cluster gets after boot: the restricted user's RBAC and a StorageClass.

The restricted user proves pyodo needs no cluster-admin: a Role in one namespace with only
the verbs pyodo uses.
"""

from __future__ import annotations

import yaml

RESTRICTED_NAMESPACE = "pyodo-restricted"
RESTRICTED_USER = "pyodo-restricted"
STORAGE_CLASS = "pyodo-hostpath"
SMOKE_POD = "pyodo-smoke"

_RW = ["get", "list", "watch", "create", "update", "patch", "delete"]
_RO = ["get", "list", "watch"]

ROLE_RULES = [
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": _RW},
    {
        "apiGroups": [""],
        "resources": ["services", "secrets", "configmaps", "persistentvolumeclaims"],
        "verbs": _RW,
    },
    {"apiGroups": [""], "resources": ["pods", "pods/log", "events"], "verbs": _RO},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": _RO},
    {"apiGroups": [""], "resources": ["pods/exec", "pods/portforward"], "verbs": ["create", "get"]},
]


def bootstrap_objects() -> list[dict]:
    """Namespace, Role, RoleBinding and the default hostpath StorageClass."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": RESTRICTED_NAMESPACE}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "pyodo-developer", "namespace": RESTRICTED_NAMESPACE},
            "rules": ROLE_RULES,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "pyodo-developer", "namespace": RESTRICTED_NAMESPACE},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "pyodo-developer",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": RESTRICTED_USER}
            ],
        },
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "kubernetes.io/host-path",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        },
    ]


def smoke_pod(image: str, namespace: str = "default") -> dict:
    """A pod that only has to start: proves sandbox, CNI and runtime work end to end."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": SMOKE_POD, "namespace": namespace},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "automountServiceAccountToken": False,
            "containers": [{"name": "smoke", "image": image, "imagePullPolicy": "Never"}],
        },
    }


def dump_all(objects: list[dict]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False)
