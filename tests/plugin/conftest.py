"""Helpers for the plugin's pytester tests: a clean environment and the fake engine.

No cluster is used: :mod:`fake_engine` becomes the inner session's ``conftest.py`` and records
what the session did to a JSON-lines file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

# pytester's in-process runs drop, at their end, every module first imported during them. The
# plugin no longer loads the Kubernetes client at start-up, so load it (and the session that
# uses it) here: otherwise one inner run's exception classes are not the next one's.
import pytest_pyodo.session  # noqa: F401

HERE = Path(__file__).parent
REPO = HERE.parents[1]
DEVFILE = (HERE.parents[1] / "examples" / "nodejs" / "devfile.yaml").read_text()


def pytest_configure(config: pytest.Config) -> None:
    # pytester is not loaded by default; a non-root conftest may not set pytest_plugins.
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")


#: Options of every inner session: only the plugins under test. pytest rewrites the asserts of
#: a plugin's whole package when it is imported, and with PYTHONDONTWRITEBYTECODE set it cannot
#: keep the result: hypothesis's plugin (it imports hypothesis at the end of every session) cost
#: an xdist subprocess session 2-4 s of CPU, anyio's (watchfiles needs anyio) about 0.6 s.
INNER_OPTIONS = "-p no:hypothesispytest -p no:anyio -p no:cacheprovider"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The developer's PYODO_* and KUBECONFIG variables must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("PYODO_") or name == "KUBECONFIG":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytest's own, with :data:`INNER_OPTIONS` for every inner session, in-process or not
    (pytester itself clears PYTEST_ADDOPTS when it starts: set after it)."""
    monkeypatch.setenv("PYTEST_ADDOPTS", INNER_OPTIONS)
    return pytester


#: Two tests that each deploy the component (through ``pyodo_endpoint``).
TWO_TESTS = """
def test_one(pyodo_endpoint):
    pass

def test_two(pyodo_endpoint):
    pass
"""


@dataclass
class Fake:
    """The fake engine installed in a pytester directory, and what it recorded."""

    pytester: pytest.Pytester
    log: Path

    def component(self, name: str = "app", broken: bool = False) -> Path:
        """A component directory with a valid devfile (``broken``: its push fails)."""
        path = self.pytester.path / name
        path.mkdir(exist_ok=True)
        (path / "devfile.yaml").write_text(DEVFILE.replace("nodejs-example", name))
        if broken:
            (path / "BROKEN").write_text("")
        return path

    def endpoint_tests(self, pairs: int = 1) -> None:
        """The test file: ``test_one`` and ``test_two``, each asking for ``pyodo_endpoint``
        (``pairs=2``: ``test_more_one`` and ``test_more_two`` too)."""
        prefixes = ("test_", "test_more_")[:pairs]
        self.pytester.makepyfile("".join(TWO_TESTS.replace("test_", p) for p in prefixes))

    def events(self, kind: str | None = None) -> list[dict]:
        if not self.log.exists():
            return []
        found = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [e for e in found if kind is None or e["event"] == kind]


@pytest.fixture
def fake(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Fake:
    log = pytester.path / "fake-events.jsonl"
    monkeypatch.setenv("PYODO_FAKE_LOG", str(log))
    # The cluster boot lock goes here; the inner sessions (subprocesses too) import tests.fakes.
    monkeypatch.setenv("PYODO_CACHE_DIR", str(pytester.path))
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), *([path] if path else [])]))
    pytester.makeconftest((HERE / "fake_engine.py").read_text())
    return Fake(pytester, log)
