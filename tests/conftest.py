"""Fixtures shared by every test tier: a devfile registry served from the loopback interface."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

REGISTRY_DIR = Path(__file__).parent.parent / "fixtures" / "devfiles" / "registry"


class _RegistryHandler(http.server.BaseHTTPRequestHandler):
    """``GET /devfiles/<id>[/<version>]``: the devfile registry server's API, from a directory."""

    root: Path = REGISTRY_DIR
    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        parts = [p for p in self.path.split("/") if p]
        stack_dir = self.root / "stacks" / parts[1] if len(parts) >= 2 else None
        if parts[:1] != ["devfiles"] or stack_dir is None or not stack_dir.is_dir():
            self.send_error(404)
            return
        version = parts[2] if len(parts) > 2 else "1.0.0"
        file = stack_dir / version / "devfile.yaml"
        if not file.is_file():
            self.send_error(404)
            return
        body = file.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/yaml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def loopback_registry() -> Iterator[tuple[str, list[str]]]:
    """``(url, requests seen)`` of a devfile registry on 127.0.0.1 (OS-chosen port) serving
    ``fixtures/devfiles/registry``; one per session (per xdist worker), stopped at its end."""
    seen: list[str] = []
    handler = type("Handler", (_RegistryHandler,), {"requests": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
