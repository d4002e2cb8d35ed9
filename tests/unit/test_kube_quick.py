"""The client-free pod list: what it reads, what it refuses (None: ask the client), never wrong.

The request shape is checked against a stdlib HTTP server standing in for the API server; that
the answer matches the client's on a real cluster is in tests/cluster/test_push_real.py.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from pyodo_tasks.core.kube.quick import JsonView, quick_pipe, quick_pods, quick_run
from pyodo_tasks.core.kube.quick_forward import quick_forward
from pyodo_tasks.core.kube.target import ResolvedTarget

POD = {
    "metadata": {
        "name": "web-1",
        "uid": "u-1",
        "labels": {"app": "web"},
        "annotations": {"pyodo.dev/spec-hash": "abc"},
        "creationTimestamp": "2026-12-02T10:33:34Z",
    },
    "status": {
        "phase": "Running",
        "podIP": "10.0.0.5",
        "containerStatuses": [
            {"name": "runtime", "containerID": "containerd://c1", "ready": True,
             "state": {"running": {"startedAt": "2026-12-02T10:33:40Z"}}},
        ],
    },
}  # fmt: skip


class _Api(BaseHTTPRequestHandler):
    status = 200
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        body = json.dumps({"kind": "PodList", "items": [POD]}).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[tuple[str, type[_Api]]]:
    handler = type("Api", (_Api,), {"seen": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _target(tmp_path: Path, cluster: dict[str, Any], user: dict[str, Any]) -> ResolvedTarget:
    config = {
        "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "clusters": [{"name": "k", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return ResolvedTarget(str(path), "c", "team a")


def test_lists_pods_by_selector_with_the_token_and_reads_them_like_the_client(tmp_path, api):
    url, handler = api
    (tmp_path / "token").write_text("s3cret\n")
    target = _target(tmp_path, {"server": url}, {"tokenFile": "token"})  # relative to the file
    pods = quick_pods(target, "app=web,tier in (a)")
    assert pods is not None and len(pods) == 1
    path, auth = handler.seen[0]
    assert path == "/api/v1/namespaces/team%20a/pods?labelSelector=app%3Dweb%2Ctier+in+%28a%29"
    assert auth == "Bearer s3cret"
    pod = pods[0]
    assert pod.metadata.name == "web-1"
    assert pod.metadata.annotations == {"pyodo.dev/spec-hash": "abc"}  # maps stay dicts
    assert pod.metadata.deletion_timestamp is None  # absent fields read None
    assert pod.metadata.creation_timestamp == datetime(2026, 12, 2, 10, 33, 34, tzinfo=timezone.utc)
    assert pod.status.pod_ip == "10.0.0.5"
    (status,) = pod.status.container_statuses
    assert (status.container_id, status.ready) == ("containerd://c1", True)
    assert status.state.running is not None and status.state.waiting is None


def test_an_error_answer_is_no_answer(tmp_path, api):
    url, handler = api
    handler.status = 403
    assert quick_pods(_target(tmp_path, {"server": url}, {"token": "t"}), "app=web") is None


@pytest.mark.parametrize(
    "user",
    [
        {"exec": {"command": "aws", "apiVersion": "client.authentication.k8s.io/v1"}},
        {"auth-provider": {"name": "oidc"}},
        {"username": "admin", "password": "pw"},
        {"token": "t", "as": "someone"},
        {"client-certificate-data": "QUJD"},  # a certificate without its key
    ],
    ids=["exec-plugin", "auth-provider", "basic-auth", "impersonation", "cert-without-key"],
)
def test_kubeconfig_entries_it_cannot_do_alone_are_left_to_the_client(tmp_path, api, user):
    url, handler = api
    assert quick_pods(_target(tmp_path, {"server": url}, user), "app=web") is None
    assert handler.seen == []  # not even asked


def test_a_proxy_or_another_tls_server_name_is_left_to_the_client(tmp_path, api):
    url, handler = api
    proxied = {"server": url, "proxy-url": "http://proxy:3128"}
    renamed = {"server": "https://10.0.0.1:6443", "tls-server-name": "kubernetes"}
    for cluster in (proxied, renamed):
        assert quick_pods(_target(tmp_path, cluster, {"token": "t"}), "a=b") is None
    assert handler.seen == []


def test_an_unreachable_server_is_no_answer_within_the_timeout(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once closed
    target = _target(tmp_path, {"server": f"http://127.0.0.1:{port}"}, {"token": "t"})
    assert quick_pods(target, "app=web", timeout=2.0) is None


def test_a_broken_kubeconfig_is_no_answer_not_an_exception(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text("contexts: [oops")
    assert quick_pods(ResolvedTarget(str(path), "c", "ns"), "app=web") is None


def test_json_view_names_follow_the_clients_attribute_names():
    view = JsonView({"hostIPs": [{"ip": "1.2.3.4"}], "nodeSelector": {"a": "b"}, "qosClass": "x"})
    assert view.host_i_ps[0].ip == "1.2.3.4"  # V1PodStatus's own spelling of hostIPs
    assert view.node_selector == {"a": "b"}
    assert view.qos_class == "x"
    assert view.to_dict()["qosClass"] == "x"


def test_exec_stream_asks_for_the_command_in_the_container_and_a_refused_upgrade_is_no_answer(
    tmp_path, api
):
    url, handler = api  # answers the upgrade with 200 JSON: not a websocket
    target = _target(tmp_path, {"server": url}, {"token": "t"})
    assert quick_pipe(target, "web-1", ["/opt/odo/bin/agent", "-v"], container="runtime") is None
    path, auth = handler.seen[0]
    assert path == (
        "/api/v1/namespaces/team%20a/pods/web-1/exec?command=%2Fopt%2Fodo%2Fbin%2Fagent"
        "&command=-v&container=runtime&stdin=true&stdout=true&stderr=true"
    )
    assert auth == "Bearer t"


def test_exec_stream_for_an_exec_plugin_user_is_left_to_the_client(tmp_path, api):
    url, handler = api
    user = {"exec": {"command": "aws", "apiVersion": "client.authentication.k8s.io/v1"}}
    assert quick_pipe(_target(tmp_path, {"server": url}, user), "p", ["a"], container="c") is None
    assert handler.seen == []


def test_a_command_run_or_a_port_forward_refused_an_upgrade_is_no_answer(tmp_path, api):
    url, handler = api  # answers every upgrade with 200 JSON: not a websocket
    target = _target(tmp_path, {"server": url}, {"token": "t"})
    assert quick_run(target, "web-1", ["b2sum"], container="runtime", input=b"a\0") is None
    assert quick_forward(target, "web-1", 3000) is None
    paths = [path for path, _ in handler.seen]
    assert paths[1] == "/api/v1/namespaces/team%20a/pods/web-1/portforward?ports=3000"
    assert {auth for _, auth in handler.seen} == {"Bearer t"}
