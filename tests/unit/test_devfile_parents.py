"""Parents by path, uri and registry id; overrides and merge as the devfile spec defines them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyodo_tasks.core.devfile import load_devfile
from pyodo_tasks.errors import DevfileError

REGISTRY = Path(__file__).parents[2] / "fixtures" / "devfiles" / "registry"

CHILD = """\
schemaVersion: 2.2.0
metadata: {name: child}
parent:
  id: pyodo-node
  version: 1.0.0
  variables: {GREETING: bonjour}
  components:
    - name: runtime
      container:
        env:
          - {name: MODE, value: child}
        endpoints:
          - {name: http, targetPort: 3000, protocol: http}
commands:
  - id: test
    exec: {component: runtime, commandLine: node --test, group: {kind: test}}
"""


def write(directory: Path, text: str, name: str = "devfile.yaml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text)
    return directory / name


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYODO_CACHE_DIR", str(tmp_path / "cache"))


def test_registry_parent_from_a_local_copy_merges_overrides(tmp_path: Path) -> None:
    devfile = load_devfile(write(tmp_path / "app", CHILD), environ={}, registry=str(REGISTRY))
    runtime = devfile.container("runtime")
    env = {e.name: e.value for e in runtime.env}
    assert env == {"GREETING": "bonjour", "MODE": "child"}, "env merges by name, vars override"
    assert runtime.memory_limit == "256Mi", "what the child does not override is the parent's"
    assert runtime.endpoints[0].protocol == "http"
    assert [c.id for c in devfile.commands] == ["install", "run", "test"]
    assert devfile.name == "child"


def test_registry_parent_version_default_and_unknown(tmp_path: Path) -> None:
    text = CHILD.replace("  version: 1.0.0\n", "")
    devfile = load_devfile(write(tmp_path / "a", text), environ={}, registry=str(REGISTRY))
    assert devfile.name == "child"
    text = CHILD.replace("version: 1.0.0", "version: 2.0.0").replace(
        "{name: MODE, value: child}", "{name: OTHER, value: x}"
    )
    devfile = load_devfile(write(tmp_path / "b", text), environ={}, registry=str(REGISTRY))
    assert {e.name: e.value for e in devfile.app_container.env}["MODE"] == "parent-two"
    with pytest.raises(DevfileError, match=r"no version 9\.9\.9.*use one of: 1\.0\.0, 2\.0\.0"):
        bad = CHILD.replace("version: 1.0.0", "version: 9.9.9")
        load_devfile(write(tmp_path / "c", bad), environ={}, registry=str(REGISTRY))


def test_registry_setting_comes_from_the_environment(tmp_path: Path) -> None:
    env = {"PYODO_DEVFILE_REGISTRY": str(REGISTRY)}
    assert load_devfile(write(tmp_path, CHILD), environ=env).name == "child"


def test_registry_parent_over_http_is_cached_for_offline_use(
    tmp_path: Path, loopback_registry: tuple[str, list[str]]
) -> None:
    url, seen = loopback_registry
    text = CHILD.replace("  version: 1.0.0\n", f"  version: 1.0.0\n  registryUrl: {url}\n")
    path = write(tmp_path, text)
    assert load_devfile(path, environ={}).container("runtime").memory_limit == "256Mi"
    assert seen[-1] == "/devfiles/pyodo-node/1.0.0"


def test_unreachable_registry_with_nothing_cached_fails_clearly(
    tmp_path: Path, loopback_registry: tuple[str, list[str]]
) -> None:
    url, _ = loopback_registry
    text = CHILD.replace("  version: 1.0.0\n", f"  version: 1.0.0\n  registryUrl: {url}\n")
    path = write(tmp_path, text)
    load_devfile(path, environ={})
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    cached = text.replace(url, dead)
    with pytest.raises(DevfileError) as info:
        load_devfile(write(tmp_path / "other", cached), environ={})
    message = str(info.value)
    assert "cannot reach http://127.0.0.1:9/devfiles/pyodo-node/1.0.0" in message
    assert "PYODO_DEVFILE_REGISTRY" in message and "\n" not in message


def test_parent_by_relative_path_and_file_uri(tmp_path: Path) -> None:
    parent = (REGISTRY / "stacks" / "pyodo-node" / "1.0.0" / "devfile.yaml").read_text()
    write(tmp_path / "base", parent)
    child = "schemaVersion: 2.2.0\nmetadata: {name: kid}\nparent: {uri: ../base/devfile.yaml}\n"
    assert load_devfile(write(tmp_path / "kid", child), environ={}).default_command("run")
    uri = (tmp_path / "base" / "devfile.yaml").as_uri()
    child = f"schemaVersion: 2.2.0\nmetadata: {{name: kid}}\nparent: {{uri: '{uri}'}}\n"
    assert load_devfile(write(tmp_path / "kid2", child), environ={}).name == "kid"


def test_child_redefining_a_parent_element_is_told_to_override(tmp_path: Path) -> None:
    text = CHILD + "  - id: RUN\n    exec: {component: runtime, commandLine: x}\n"
    with pytest.raises(DevfileError, match="run already defined in the parent") as info:
        load_devfile(write(tmp_path, text), environ={}, registry=str(REGISTRY))
    assert info.value.field == "commands"
    assert "override it under parent.commands" in str(info.value)


def test_override_of_a_missing_parent_element_is_refused(tmp_path: Path) -> None:
    text = CHILD.replace("    - name: runtime\n", "    - name: sidecar\n")
    with pytest.raises(DevfileError, match="sidecar, which the parent does not define"):
        load_devfile(write(tmp_path, text), environ={}, registry=str(REGISTRY))


def test_registry_id_without_any_registry_says_how_to_name_one(tmp_path: Path) -> None:
    with pytest.raises(DevfileError, match=r"names no registry.*PYODO_DEVFILE_REGISTRY"):
        load_devfile(write(tmp_path, CHILD), environ={})


def test_cached_parent_answers_when_the_registry_is_gone(tmp_path: Path) -> None:
    import http.server
    import threading

    body = (REGISTRY / "stacks" / "pyodo-node" / "1.0.0" / "devfile.yaml").read_bytes()

    class Once(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Once)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    text = CHILD.replace("  version: 1.0.0\n", f"  version: 1.0.0\n  registryUrl: {url}\n")
    path = write(tmp_path, text)
    try:
        assert not load_devfile(path, environ={}).notes
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    devfile = load_devfile(path, environ={})
    assert devfile.container("runtime").memory_limit == "256Mi"
    (note,) = devfile.notes
    assert f"{url}/devfiles/pyodo-node/1.0.0 unreachable; cached copy" in note


def test_single_file_registry_stack_that_is_not_yaml_fails_as_one_devfile_error(
    tmp_path: Path,
) -> None:
    registry = tmp_path / "registry"
    write(registry / "stacks" / "pyodo-node", "schemaVersion: [unclosed\n")
    with pytest.raises(DevfileError, match=r"pyodo-node"):
        load_devfile(write(tmp_path / "app", CHILD), environ={}, registry=str(registry))
