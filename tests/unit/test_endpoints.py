"""Endpoint schemes: a TLS-declared endpoint gets the scheme the app really speaks."""

from __future__ import annotations

import http.server
import logging
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyodo_tasks.core.devfile import Endpoint
from pyodo_tasks.core.endpoints import shown_scheme, speaks_tls, wait_answering


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(context: ssl.SSLContext | None = None) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def plain_port() -> Iterator[int]:
    yield from _serve()


@pytest.fixture
def tls_port(tmp_path: Path) -> Iterator[int]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl CLI needed to make a throwaway certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    yield from _serve(context)


def test_https_endpoint_served_in_the_clear_is_handed_out_as_http(
    plain_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = Endpoint("http", 3000, protocol="https")
    with caplog.at_level(logging.WARNING):
        url = wait_answering(f"https://127.0.0.1:{plain_port}/", endpoint, timeout=10)
    assert url == f"http://127.0.0.1:{plain_port}/"
    (record,) = caplog.records
    assert "declared https but the app speaks plain http" in record.getMessage()


def test_https_endpoint_speaking_tls_keeps_https(tls_port: int) -> None:
    endpoint = Endpoint("https", 8443, protocol="https")
    assert speaks_tls("127.0.0.1", tls_port) is True
    url = wait_answering(f"https://127.0.0.1:{tls_port}/", endpoint, timeout=10)
    assert url == f"https://127.0.0.1:{tls_port}/"


def test_connection_closed_without_a_byte_is_no_answer_yet() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def close_at_once() -> None:
        conn, _ = listener.accept()
        conn.close()

    thread = threading.Thread(target=close_at_once, daemon=True)
    thread.start()
    try:
        assert speaks_tls("127.0.0.1", port) is None
    finally:
        thread.join(timeout=5)
        listener.close()


def test_a_server_that_never_answers_the_handshake_counts_as_plain_within_the_bound() -> None:
    """A plain server reading the ClientHello as a request line waits for more: the probe
    gives up after its bound for the whole handshake, not after the wait's full timeout."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []

    def hold_open() -> None:
        conn, _ = listener.accept()
        accepted.append(conn)  # read nothing, answer nothing, close nothing

    thread = threading.Thread(target=hold_open, daemon=True)
    thread.start()
    try:
        assert speaks_tls("127.0.0.1", port, timeout=0.3) is False
    finally:
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        listener.close()


@pytest.mark.parametrize(
    ("protocol", "shown"),
    [
        ("http", "http"),
        ("https", "https"),
        ("ws", "ws"),
        ("wss", "wss"),
        ("tcp", "tcp"),
        ("udp", "udp"),
        ("sctp", "http"),
    ],
)
def test_doit_forward_shows_each_endpoint_with_its_own_scheme(protocol, shown):
    # `doit forward` printed ws endpoints as http:// (issue 8's note).
    assert shown_scheme(Endpoint("e", 8080, protocol=protocol)) == shown
