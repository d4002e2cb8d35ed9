"""The CoreDNS built here serves cluster DNS on the local cluster too.

The local cluster boots without cluster DNS unless ``PYODO_CLUSTER_DNS=1``; rebooting the shared
cluster is not a test's to do, so this runs kubeadm's CoreDNS objects (:mod:`pyodo_tasks.testbed.
clusterdns`, the same ones ``up`` applies to ``kube-system``) in a namespace of its own, and a pod
whose resolver is that CoreDNS resolves a Service by its short and full names. On a cluster
booted with ``PYODO_CLUSTER_DNS=1`` (or on kind), ``test_cluster_real`` checks the pods' default
resolver as well.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from podrun import PROBE_IMAGE, kubectl, run_pod  # tests/cluster is on sys.path

from pyodo_tasks.cluster import ClusterInfo, get_provider
from pyodo_tasks.testbed import clusterdns

pytestmark = pytest.mark.cluster


def web_objects(namespace: str) -> list[dict]:
    labels = {"app": "web"}
    container = {
        "name": "main",
        "image": PROBE_IMAGE,
        "imagePullPolicy": "Never",
        "command": ["python3", "-m", "http.server", "8080", "--directory", "/tmp"],
        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
    }
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [container], "terminationGracePeriodSeconds": 1},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    ]


@pytest.fixture(scope="module")
def dns_namespace(cluster_info: ClusterInfo) -> Iterator[str]:
    if cluster_info.provider != "local" or cluster_info.kubectl is None:
        pytest.skip("kind runs kubeadm's own CoreDNS (test_cluster_real checks it)")
    get_provider("local").load_image(clusterdns.coredns_archive())
    namespace = f"pyodo-dns-{uuid.uuid4().hex[:6]}"
    objects = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        *clusterdns.objects(namespace, cluster_ip=None),
        *web_objects(namespace),
    ]
    try:
        kubectl(cluster_info, "apply", "-f", "-", stdin=yaml.safe_dump_all(objects))
        for name in ("coredns", "web"):
            kubectl(
                cluster_info,
                "-n",
                namespace,
                "rollout",
                "status",
                f"deployment/{name}",
                "--timeout=120s",
            )
        yield namespace
    finally:
        role = f"pyodo:coredns:{namespace}"
        kubectl(
            cluster_info,
            "delete",
            "--ignore-not-found",
            "--wait=false",
            f"clusterrole/{role}",
            f"clusterrolebinding/{role}",
            f"namespace/{namespace}",
        )


def client_pod(namespace: str, nameserver: str) -> dict:
    full = f"web.{namespace}.svc.cluster.local"
    script = (
        "import socket, time, urllib.request\n"
        "deadline = time.monotonic() + 60\n"
        "while True:\n"
        "    try:\n"
        f"        names = [socket.gethostbyname('web'), socket.gethostbyname({full!r})]\n"
        "        break\n"
        "    except OSError:\n"
        "        if time.monotonic() > deadline:\n"
        "            raise\n"
        "        time.sleep(1)\n"
        "print(' '.join(names))\n"
        "print(urllib.request.urlopen('http://web/', timeout=10).status)\n"
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "resolver", "namespace": namespace},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "dnsPolicy": "None",
            "dnsConfig": {
                "nameservers": [nameserver],
                "searches": [
                    f"{namespace}.svc.cluster.local",
                    "svc.cluster.local",
                    "cluster.local",
                ],
                "options": [{"name": "ndots", "value": "5"}],
            },
            "containers": [
                {
                    "name": "main",
                    "image": PROBE_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["python3", "-c", script],
                }
            ],
        },
    }


def test_coredns_built_here_resolves_service_names_on_the_local_cluster(
    cluster_info: ClusterInfo, dns_namespace: str
) -> None:
    def ip_of(service: str) -> str:
        return kubectl(
            cluster_info,
            "-n",
            dns_namespace,
            "get",
            "service",
            service,
            "-o",
            "jsonpath={.spec.clusterIP}",
        )

    phase, logs = run_pod(cluster_info, client_pod(dns_namespace, ip_of("kube-dns")))
    assert phase == "Succeeded", logs[-1500:]
    names, status = logs.splitlines()[-2:]
    web_ip = ip_of("web")
    assert names.split() == [web_ip, web_ip]
    assert status == "200"


def test_coredns_image_archive_is_cached(dns_namespace: str) -> None:
    first = clusterdns.coredns_archive().path
    mtime = Path(first).stat().st_mtime_ns
    assert clusterdns.coredns_archive().path == first
    assert Path(first).stat().st_mtime_ns == mtime
