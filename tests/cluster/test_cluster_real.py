"""Prove the test cluster is real: workloads run, exec, stdin tar, port-forward, PVCs, RBAC.

Uses only the official ``kubernetes`` client against the cluster from ``cluster_info``.
Streaming (exec, port-forward) gets its own ApiClient: ``stream()`` patches the ApiClient it is
given, which breaks concurrent REST calls on a shared one (kubernetes-client/python#928).
"""

from __future__ import annotations

import io
import ipaddress
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.stream import portforward, stream
from podrun import PROBE_IMAGE  # tests/cluster is on sys.path

from pyodo_tasks.cluster import ClusterInfo, get_provider
from pyodo_tasks.core.wait import wait_for
from pyodo_tasks.testbed import components, procs

pytestmark = pytest.mark.cluster

IMAGE = PROBE_IMAGE
PORT = 8080
T = TypeVar("T")


def wait_until(probe: Callable[[], T | None], what: str, timeout: float = 120.0) -> T:
    """Poll ``probe`` until it returns a truthy value (pyodo's one bounded wait)."""

    def check() -> tuple[T | None, str]:
        value = probe()
        return (value if value else None), repr(value)[:120]

    return wait_for(check, what, timeout, interval=0.5)


@pytest.fixture(scope="module")
def api(cluster_info: ClusterInfo) -> Iterator[client.ApiClient]:
    with config.new_client_from_config(
        str(cluster_info.kubeconfig), context=cluster_info.context
    ) as api_client:
        yield api_client


@pytest.fixture(scope="module")
def stream_api(cluster_info: ClusterInfo) -> Iterator[client.ApiClient]:
    with config.new_client_from_config(
        str(cluster_info.kubeconfig), context=cluster_info.context
    ) as api_client:
        yield api_client


@pytest.fixture(scope="module")
def images(cluster_info: ClusterInfo) -> None:
    """Make sure the builder image used below is in the cluster (cached, digest-checked)."""
    from pyodo_tasks.cluster import get_provider
    from pyodo_tasks.testbed.images import ensure_images

    provider = get_provider(cluster_info.provider)
    for archive in ensure_images(["builder-python"]).values():
        provider.load_image(archive)


@pytest.fixture(scope="module")
def namespace(api: client.ApiClient) -> Iterator[str]:
    core = client.CoreV1Api(api)
    name = f"pyodo-test-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    wait_until(lambda: _has_default_sa(core, name), "default service account", 60)
    yield name
    core.delete_namespace(name)


def _has_default_sa(core: client.CoreV1Api, ns: str) -> bool:
    try:
        core.read_namespaced_service_account("default", ns)
    except ApiException:
        return False
    return True


def deployment(name: str, command: list[str], readiness: bool = True) -> client.V1Deployment:
    labels = {"app": name}
    container = client.V1Container(
        name="main",
        image=IMAGE,
        image_pull_policy="Never",
        command=command,
        ports=[client.V1ContainerPort(container_port=PORT)],
        readiness_probe=client.V1Probe(
            tcp_socket=client.V1TCPSocketAction(port=PORT), period_seconds=1
        )
        if readiness
        else None,
    )
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[container], termination_grace_period_seconds=1),
            ),
        ),
    )


@pytest.fixture(scope="module")
def web(api: client.ApiClient, namespace: str, images: None) -> dict[str, str]:
    """A Deployment serving HTTP on 8080 and its Service; returns names once Ready."""
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    name = "web"
    apps.create_namespaced_deployment(
        namespace,
        deployment(name, ["python3", "-m", "http.server", str(PORT), "--directory", "/tmp"]),
    )
    core.create_namespaced_service(
        namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name=name),
            spec=client.V1ServiceSpec(
                selector={"app": name}, ports=[client.V1ServicePort(port=80, target_port=PORT)]
            ),
        ),
    )

    def available() -> bool:
        st = apps.read_namespaced_deployment_status(name, namespace).status
        return bool(st.available_replicas) and st.available_replicas >= 1

    wait_until(available, "deployment web available", 180)

    def ready_pod() -> str | None:
        eps = core.read_namespaced_endpoints(name, namespace)
        for subset in eps.subsets or []:
            for addr in subset.addresses or []:
                return addr.target_ref.name
        return None

    pod = wait_until(ready_pod, "service web endpoints", 60)
    svc = core.read_namespaced_service(name, namespace)
    return {"pod": pod, "service": name, "cluster_ip": svc.spec.cluster_ip}


def _close_ws(resp) -> None:
    """Close a stream's websocket *and* its TLS socket (``close()`` alone can leave it open)."""
    resp.close()
    if getattr(resp, "sock", None) is not None:
        resp.sock.shutdown()


def run_exec(
    stream_api: client.ApiClient,
    namespace: str,
    pod: str,
    command: list[str],
    stdin: bytes | None = None,
    timeout: float = 60,
) -> tuple[int, bytes, bytes]:
    core = client.CoreV1Api(stream_api)
    resp = stream(
        core.connect_get_namespaced_pod_exec,
        pod,
        namespace,
        command=command,
        stdin=stdin is not None,
        stdout=True,
        stderr=True,
        tty=False,
        binary=True,
        _preload_content=False,
    )
    out, err = bytearray(), bytearray()
    try:
        if stdin is not None:
            for i in range(0, len(stdin), 1 << 16):
                resp.write_stdin(stdin[i : i + (1 << 16)])
            resp.close_channel(0)
        deadline = time.monotonic() + timeout
        while resp.is_open():
            if time.monotonic() > deadline:
                raise AssertionError(f"exec {command} did not finish in {timeout:g}s")
            resp.update(timeout=1)
            out += resp.read_stdout(timeout=0) if resp.peek_stdout() else b""
            err += resp.read_stderr(timeout=0) if resp.peek_stderr() else b""
        out += resp.read_stdout(timeout=0) if resp.peek_stdout() else b""
        err += resp.read_stderr(timeout=0) if resp.peek_stderr() else b""
        return resp.returncode, bytes(out), bytes(err)
    finally:
        _close_ws(resp)


@pytest.mark.kind
def test_deployment_and_service_become_ready(web: dict[str, str]) -> None:
    assert web["pod"].startswith("web-")
    # Inside the service range: the local cluster's 10.96.0.0/24, kind's default 10.96.0.0/16.
    assert ipaddress.ip_address(web["cluster_ip"]) in ipaddress.ip_network("10.96.0.0/16")


@pytest.mark.kind
def test_exec_returns_output_and_exit_code(stream_api, namespace, web) -> None:
    code, out, err = run_exec(
        stream_api, namespace, web["pod"], ["sh", "-c", "echo hello; echo oops >&2; exit 3"]
    )
    assert (code, out, err) == (3, b"hello\n", b"oops\n")
    code, out, _ = run_exec(stream_api, namespace, web["pod"], ["true"])
    assert (code, out) == (0, b"")


@pytest.mark.kind
def test_tar_stream_through_exec_stdin_lands_in_container(stream_api, namespace, web) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB, not UTF-8: proves binary safety
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("sub/data.bin")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    code, _, err = run_exec(
        stream_api,
        namespace,
        web["pod"],
        ["sh", "-c", "mkdir -p /tmp/upload && tar xf - -C /tmp/upload"],
        stdin=buf.getvalue(),
    )
    assert code == 0, err
    code, out, _ = run_exec(
        stream_api, namespace, web["pod"], ["sha256sum", "/tmp/upload/sub/data.bin"]
    )
    import hashlib

    assert code == 0
    assert out.split()[0].decode() == hashlib.sha256(payload).hexdigest()


@pytest.mark.kind
def test_port_forward_to_the_service_pod_answers_http(stream_api, namespace, web) -> None:
    core = client.CoreV1Api(stream_api)
    run_exec(stream_api, namespace, web["pod"], ["sh", "-c", "echo pyodo-ok > /tmp/ping.txt"])
    pf = portforward(
        core.connect_get_namespaced_pod_portforward, web["pod"], namespace, ports=str(PORT)
    )
    try:
        sock = pf.socket(PORT)
        sock.settimeout(30)
        sock.sendall(b"GET /ping.txt HTTP/1.0\r\nHost: web\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
            if b"pyodo-ok" in data:
                break
        sock.close()
    finally:
        pf.close()
        # The proxy thread ends the websocket once every local socket is closed.
        wait_until(lambda: not pf.connected, "port-forward websocket closed", 10)
        pf.websocket.shutdown()
    assert data.startswith(b"HTTP/1.0 200"), data[:200]
    assert b"pyodo-ok" in data


@pytest.mark.kind
def test_service_cluster_ip_answers_from_a_pod(stream_api, namespace, web) -> None:
    """kube-proxy's iptables rules route the ClusterIP to the pod (even back to itself).

    kube-proxy programs a new endpoint a moment after it turns ready (until then the
    ClusterIP rejects), so this retries for a bounded time like any client would.
    """
    url = f"http://{web['cluster_ip']}:80/"
    command = [
        "python3",
        "-c",
        f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=10).status)",
    ]
    results: list[tuple[int, bytes, bytes]] = []

    def answered() -> bool:
        try:
            results.append(run_exec(stream_api, namespace, web["pod"], command))
        except (ApiException, AttributeError) as exc:
            # Seen once right after a cold boot: the exec websocket's TLS handshake failed
            # (WRONG_VERSION_NUMBER) and the client then raised AttributeError. This test is
            # about kube-proxy's routing, so a failed attempt is retried like any other.
            results.append((-1, b"", repr(exc).encode()))
        return results[-1][:2] == (0, b"200\n")

    try:
        wait_until(answered, f"{url} to answer from inside the pod", 30)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: last result {results[-1]!r}") from exc


@pytest.mark.kind
def test_deleting_the_deployment_removes_its_pod(api, namespace, images) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(
        namespace, deployment("doomed", ["sleep", "3600"], readiness=False)
    )

    def pods() -> list[client.V1Pod]:
        return core.list_namespaced_pod(namespace, label_selector="app=doomed").items

    wait_until(lambda: any(p.status.phase == "Running" for p in pods()), "doomed pod running")
    apps.delete_namespaced_deployment("doomed", namespace, propagation_policy="Foreground")
    wait_until(lambda: not pods(), "doomed pods gone", 90)


@pytest.mark.kind
def test_pvc_binds_through_the_hostpath_provisioner_and_mounts(
    api, stream_api, namespace, images
) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_persistent_volume_claim(
        namespace,
        client.V1PersistentVolumeClaim(
            metadata=client.V1ObjectMeta(name="data"),
            spec=client.V1PersistentVolumeClaimSpec(
                access_modes=["ReadWriteOnce"],
                resources=client.V1VolumeResourceRequirements(requests={"storage": "16Mi"}),
            ),
        ),
    )
    pvc = wait_until(
        lambda: (
            (c := core.read_namespaced_persistent_volume_claim("data", namespace))
            and c.status.phase == "Bound"
            and c
        ),
        "PVC data Bound",
        90,
    )
    assert pvc.spec.storage_class_name == "pyodo-hostpath"
    core.create_namespaced_pod(
        namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="uses-pvc"),
            spec=client.V1PodSpec(
                termination_grace_period_seconds=1,
                containers=[
                    client.V1Container(
                        name="main",
                        image=IMAGE,
                        image_pull_policy="Never",
                        command=["sh", "-c", "echo persisted > /data/f && sleep 3600"],
                        volume_mounts=[client.V1VolumeMount(name="d", mount_path="/data")],
                    )
                ],
                volumes=[
                    client.V1Volume(
                        name="d",
                        persistent_volume_claim=client.V1PersistentVolumeClaimVolumeSource(
                            claim_name="data"
                        ),
                    )
                ],
            ),
        ),
    )
    wait_until(
        lambda: core.read_namespaced_pod("uses-pvc", namespace).status.phase == "Running",
        "pod uses-pvc Running",
    )
    _code, out, _ = wait_until(
        lambda: (
            (r := run_exec(stream_api, namespace, "uses-pvc", ["cat", "/data/f"]))[0] == 0 and r
        ),
        "file written to the PVC",
        30,
    )
    assert out == b"persisted\n"


def test_restricted_user_can_deploy_in_its_namespace_but_not_list_namespaces(
    cluster_info: ClusterInfo,
) -> None:
    assert cluster_info.restricted_kubeconfig is not None
    ns = cluster_info.restricted_namespace
    with config.new_client_from_config(str(cluster_info.restricted_kubeconfig)) as rapi:
        apps, core = client.AppsV1Api(rapi), client.CoreV1Api(rapi)
        name = f"r-{uuid.uuid4().hex[:6]}"
        apps.create_namespaced_deployment(ns, deployment(name, ["sleep", "60"], readiness=False))
        try:
            assert apps.read_namespaced_deployment(name, ns).metadata.name == name
            with pytest.raises(ApiException) as denied:
                core.list_namespace()
            assert denied.value.status == 403
            with pytest.raises(ApiException) as denied:
                apps.list_namespaced_deployment("default")
            assert denied.value.status == 403
        finally:
            apps.delete_namespaced_deployment(name, ns)


def test_up_on_a_healthy_cluster_keeps_every_daemon_it_recorded(cluster_info: ClusterInfo) -> None:
    if cluster_info.provider != "local":
        pytest.skip("the local cluster's daemons only")
    lines: list[str] = []
    provider = get_provider("local", progress=lines.append)
    daemons = components.daemons(provider.layout)  # type: ignore[attr-defined]
    before = {d.name: procs.running(d) for d in daemons}
    assert all(before.values()), before
    provider.up()
    assert {d.name: procs.running(d) for d in daemons} == before
    assert not any("starting" in line for line in lines), lines
    for daemon in daemons:  # recorded at spawn: its executable is the daemon's binary
        ident = procs.identify(before[daemon.name] or 0)
        assert ident is not None and ident.alive()
        assert Path(ident.exe).name == Path(daemon.argv[0]).name


@pytest.mark.kind
def test_service_name_resolves_through_cluster_dns_from_a_pod(
    api, stream_api, namespace, web
) -> None:
    """kubeadm's CoreDNS (built here, pre-loaded in the kind node) answers for Services.

    The short name goes through the pod's search path, the full name straight to CoreDNS; both
    must give the Service's ClusterIP, and HTTP by name must reach the pod behind it.
    """
    try:
        client.CoreV1Api(api).read_namespaced_service("kube-dns", "kube-system")
    except ApiException as exc:
        if exc.status != 404:
            raise
        pytest.skip("this cluster runs no cluster DNS (the local cluster has none)")
    full = f"{web['service']}.{namespace}.svc.cluster.local"
    script = (
        "import socket, urllib.request\n"
        f"print(socket.gethostbyname({web['service']!r}), socket.gethostbyname({full!r}))\n"
        f"print(urllib.request.urlopen('http://{web['service']}/', timeout=10).status)\n"
    )
    results: list[tuple[int, bytes, bytes]] = []

    def resolved() -> bool:
        results.append(run_exec(stream_api, namespace, web["pod"], ["python3", "-c", script]))
        return results[-1][0] == 0

    try:
        wait_until(resolved, f"{web['service']} and {full} to resolve in the pod", 60)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: last result {results[-1]!r}") from exc
    names, status = results[-1][1].decode().splitlines()
    assert names.split() == [web["cluster_ip"], web["cluster_ip"]]
    assert status == "200"
