"""Shared by every test tier: the property tests' size, and a devfile registry served from the
loopback interface.

The property tests (hypothesis: ``tests/unit/test_*_fuzz.py``) take their size from a settings
profile chosen here by ``PYODO_FUZZ``: ``fast`` (the default: the fast tier stays under a
minute) tries a fifth of the examples of ``full``, which ``./run test`` selects, so the whole
suite still tries thousands. ``PYODO_FUZZ_SCALE`` multiplies either (``PYODO_FUZZ=full
PYODO_FUZZ_SCALE=20 pytest -k fuzz`` searches twenty times as long as the full run).
"""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REGISTRY_DIR = Path(__file__).parent.parent / "fixtures" / "devfiles" / "registry"

#: A property test's examples per unit of its size (``max_examples=15 * unit``), by profile.
FUZZ_UNITS = {"full": 100, "fast": 20}


def _register_fuzz_profiles() -> None:
    """``pyodo-full`` and ``pyodo-fast``: otherwise what the active profile says (hypothesis's
    ``ci`` one under ``CI=1``)."""
    scale = float(os.environ.get("PYODO_FUZZ_SCALE", "1"))
    common = settings(
        deadline=None,  # 2 shared cores: wall time per example says nothing here
        database=None,  # no .hypothesis/ left in the checkout
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    for name, unit in FUZZ_UNITS.items():
        settings.register_profile(f"pyodo-{name}", common, max_examples=max(1, int(unit * scale)))


_register_fuzz_profiles()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Load the profile ``PYODO_FUZZ`` names before any test module reads its size (first, so
    that hypothesis's own ``--hypothesis-profile`` still wins)."""
    name = os.environ.get("PYODO_FUZZ", "fast")
    if name not in FUZZ_UNITS:
        raise pytest.UsageError(f"PYODO_FUZZ={name!r}: use one of {', '.join(FUZZ_UNITS)}")
    settings.load_profile(f"pyodo-{name}")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The chaos cases (``tests/chaos``) last, after the cluster tests: some stop the API
    server or containerd for seconds, which a cluster test running meanwhile would meet."""
    items.sort(key=lambda item: item.get_closest_marker("chaos") is not None)


def pytest_report_header(config: pytest.Config) -> str:
    """Which size the property tests run at: the log of a full run shows it ran thousands."""
    name = settings.get_current_profile_name()
    return f"property tests: hypothesis profile {name}, {settings().max_examples} examples a unit"


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
