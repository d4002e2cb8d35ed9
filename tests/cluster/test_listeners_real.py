"""The local cluster is closed to the network: its daemons listen on loopback only (issue 20).

Reads the host's listening sockets (``/proc/net/{tcp,tcp6,udp,udp6}``) and the processes that
own them: every socket of a daemon ``up`` started (the pids in the layout's pid files, and their
children) must be on 127.0.0.1 or ::1, and the kubeconfigs must point at loopback. Pods must
still reach the API through the ``kubernetes`` Service (:mod:`pyodo_tasks.testbed.hostnet`), and
the apiserver the kubelet (exec, logs and port-forward, which ``test_cluster_real`` covers).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from podrun import PROBE_IMAGE, kubectl, run_pod  # tests/cluster is on sys.path

from pyodo_tasks.cluster import ClusterInfo, get_provider
from pyodo_tasks.testbed import components, procs
from pyodo_tasks.testbed.layout import Layout

pytestmark = pytest.mark.cluster

#: ``/proc/net`` socket states that accept connections or datagrams.
LISTEN, UNCONNECTED = "0A", "07"


@dataclass(frozen=True)
class Listener:
    proto: str
    address: str
    port: int
    inode: int

    def is_loopback(self) -> bool:
        return ipaddress.ip_address(self.address).is_loopback


def _address(hex_addr: str) -> str:
    """``/proc/net`` hex address (host byte order per 32-bit word) to text."""
    raw = bytes.fromhex(hex_addr)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def listeners() -> list[Listener]:
    """Every listening TCP and bound, unconnected UDP socket of this (the host's) netns."""
    found = []
    for proto, state in (("tcp", LISTEN), ("tcp6", LISTEN), ("udp", UNCONNECTED), ("udp6", "07")):
        for line in Path(f"/proc/net/{proto}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != state:
                continue
            addr, port = fields[1].split(":")
            found.append(Listener(proto, _address(addr), int(port, 16), int(fields[9])))
    return found


def socket_owners() -> dict[int, set[int]]:
    """Socket inode -> pids that hold it open."""
    owners: dict[int, set[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            links = [os.readlink(fd) for fd in (proc / "fd").iterdir()]
        except OSError:  # gone, or not ours to read
            continue
        for link in links:
            if link.startswith("socket:["):
                owners.setdefault(int(link[8:-1]), set()).add(int(proc.name))
    return owners


def with_descendants(roots: dict[int, str]) -> dict[int, str]:
    """``roots`` (pid -> daemon name) and every process below them, named after their root."""
    parent = {}
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text() if proc.name.isdigit() else ""
        except OSError:
            continue
        if stat:
            parent[int(proc.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    named = dict(roots)
    for pid in parent:
        chain, cur = [], pid
        while cur in parent and cur not in named and len(chain) < 64:
            chain.append(cur)
            cur = parent[cur]
        if cur in named:
            named.update(dict.fromkeys(chain, named[cur]))
    return named


@pytest.fixture(scope="module")
def layout(cluster_info: ClusterInfo) -> Layout:
    if cluster_info.provider != "local":
        pytest.skip("the listeners are the local cluster's (kind binds 127.0.0.1 itself)")
    return get_provider("local").layout  # type: ignore[attr-defined, no-any-return]


def daemon_sockets(layout: Layout) -> dict[str, list[Listener]]:
    """The listeners of each daemon ``up`` started (and of its children), by daemon name."""
    pids = {}
    for daemon in components.daemons(layout):
        pid = procs.running(daemon)
        assert pid is not None, f"{daemon.name} is not running"
        pids[pid] = daemon.name
    named = with_descendants(pids)
    owners = socket_owners()
    by_daemon: dict[str, list[Listener]] = {name: [] for name in pids.values()}
    for sock in listeners():
        for pid in owners.get(sock.inode, ()):
            if pid in named:
                by_daemon[named[pid]].append(sock)
    return by_daemon


def test_every_listener_of_the_cluster_is_on_loopback(layout: Layout) -> None:
    by_daemon = daemon_sockets(layout)
    exposed = {
        name: [f"{s.proto} {s.address}:{s.port}" for s in socks if not s.is_loopback()]
        for name, socks in by_daemon.items()
    }
    assert not any(exposed.values()), exposed
    net = layout.net
    api = {(s.address, s.port) for s in by_daemon["kube-apiserver"]}
    kubelet = {(s.address, s.port) for s in by_daemon["kubelet"]}
    assert ("127.0.0.1", net.api_port) in api, by_daemon["kube-apiserver"]
    assert ("127.0.0.1", net.kubelet_port) in kubelet, by_daemon["kubelet"]
    assert ("127.0.0.1", net.etcd_client_port) in {(s.address, s.port) for s in by_daemon["etcd"]}


def test_the_kubeconfigs_point_at_loopback(cluster_info: ClusterInfo, layout: Layout) -> None:
    paths = [cluster_info.kubeconfig, cluster_info.restricted_kubeconfig]
    paths += [layout.kubeconfig_for(c) for c in ("kubelet", "kube-proxy", "scheduler")]
    for path in paths:
        assert path is not None
        for cluster in yaml.safe_load(Path(path).read_text())["clusters"]:
            host = urlsplit(cluster["cluster"]["server"]).hostname
            assert ipaddress.ip_address(host).is_loopback, (path, host)


def host_addresses(layout: Layout) -> list[str]:
    """This host's IPv4 addresses other than loopback and the pod bridge's."""
    out = subprocess.run(
        ["ip", "-4", "-j", "addr", "show"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    return [
        info["local"]
        for link in json.loads(out)
        if link.get("ifname") not in ("lo", layout.net.bridge)
        for info in link.get("addr_info", [])
    ]


def test_the_hosts_own_addresses_refuse_the_api_and_kubelet_ports(layout: Layout) -> None:
    addresses = host_addresses(layout)
    if not addresses:
        pytest.skip("this host has no address besides loopback and the pod bridge")
    for address in addresses:
        for port in (layout.net.api_port, layout.net.kubelet_port):
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((address, port), timeout=5).close()


@pytest.fixture(scope="module")
def namespace(cluster_info: ClusterInfo, layout: Layout) -> Iterator[str]:
    from pyodo_tasks.testbed.images import ensure_images

    for archive in ensure_images(["builder-python"]).values():
        get_provider("local").load_image(archive)
    name = f"pyodo-listen-{uuid.uuid4().hex[:6]}"
    kubectl(cluster_info, "create", "namespace", name)
    try:
        yield name
    finally:
        kubectl(cluster_info, "delete", "namespace", name, "--ignore-not-found", "--wait=false")


#: In a pod: GET /version through the ``kubernetes`` Service and through the advertised endpoint,
#: verified with the service account's CA (the serving certificate names both addresses).
API_PROBE = """
import os, ssl, sys, time, urllib.request
ca = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
ctx = ssl.create_default_context(cafile=ca)
svc = "https://%s:%s/version" % (os.environ["KUBERNETES_SERVICE_HOST"],
                                 os.environ["KUBERNETES_SERVICE_PORT"])
for url in (svc, sys.argv[1]):
    deadline = time.monotonic() + 30
    while True:
        try:
            print(url, urllib.request.urlopen(url, context=ctx, timeout=5).status, flush=True)
            break
        except OSError as exc:
            if time.monotonic() > deadline:
                raise SystemExit("%s: %s" % (url, exc))
            time.sleep(1)
"""


def test_a_pod_reaches_the_api_through_the_kubernetes_service(
    cluster_info: ClusterInfo, layout: Layout, namespace: str
) -> None:
    endpoint = f"https://{layout.net.node_ip}:{layout.net.api_port}/version"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "api-probe", "namespace": namespace},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": PROBE_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["python3", "-c", API_PROBE, endpoint],
                }
            ],
        },
    }
    phase, logs = run_pod(cluster_info, pod)
    assert phase == "Succeeded", logs[-1500:]
    svc = f"https://{layout.net.api_service_ip}:443/version 200"
    assert logs.splitlines() == [svc, f"{endpoint} 200"]
