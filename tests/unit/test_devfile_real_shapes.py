"""Shapes real devfiles have (Che and GitLab workspace devfiles, application repositories,
schema 2.0.0 to 2.3.0) that the devfile spec and odo accept or refuse — issue 19's classes:
endpoint name limits by schema version, endpoints sharing a port, parent ``uri``s a fetch
cannot take, endpoint paths without ``/``, ``apply`` commands naming nothing, devfiles with no
run command. Each devfile here is written for the test."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from pyodo_tasks.core.devfile import Devfile, load_devfile
from pyodo_tasks.core.devfile.model import NO_RUN_COMMAND
from pyodo_tasks.core.devfile.registry import FetchError, fetch_url
from pyodo_tasks.core.endpoints import wait_answering
from pyodo_tasks.core.render import RenderContext, render
from pyodo_tasks.errors import DevfileError
from pyodo_tasks.runtime.sources import RUNTIME_DIR
from tests.fakes.http_servers import MisbehavingServer, misbehaving_server

LONG_NAME = "application-dev-ui-endpoint"  # 27 characters: valid before schema 2.2.0


def devfile_text(
    version: str = "2.2.0",
    endpoints: str = "[{name: http, targetPort: 8080}]",
    commands: str = "",
    components: str = "",
) -> str:
    text = f"""\
schemaVersion: {version}
metadata: {{name: shapes}}
components:
  - name: runtime
    container:
      image: localhost/pyodo/builder-nodejs:bookworm
      endpoints: {endpoints}
{components}"""
    return text + (f"commands:\n{commands}" if commands else "")


def load(tmp_path: Path, text: str, **kwargs: Any) -> Devfile:
    (tmp_path / "devfile.yaml").write_text(text)
    return load_devfile(tmp_path, environ={}, **kwargs)


def pod_and_service(devfile: Devfile) -> tuple[dict[str, Any], dict[str, Any]]:
    objects = {o["kind"]: o for o in render(devfile, RenderContext(namespace="ns"))}
    return objects["Deployment"]["spec"]["template"]["spec"], objects["Service"]["spec"]


def refusal(tmp_path: Path, text: str, **kwargs: Any) -> str:
    with pytest.raises(DevfileError) as caught:
        load(tmp_path, text, **kwargs)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


# -- 1. endpoint names: the schema version decides the limit ----------------------------------
@pytest.mark.parametrize("version", ["2.0.0", "2.1.0"])
def test_long_endpoint_names_load_before_schema_2_2_and_their_port_is_named_by_number(
    tmp_path: Path, version: str
) -> None:
    text = devfile_text(version, f"[{{name: {LONG_NAME}, targetPort: 8080}}]")
    devfile = load(tmp_path, text)
    assert devfile.app_container.endpoints[0].name == LONG_NAME
    pod, service = pod_and_service(devfile)
    assert pod["containers"][0]["ports"] == [
        {"name": "port-8080", "containerPort": 8080, "protocol": "TCP"}
    ]
    assert [p["name"] for p in service["ports"]] == ["port-8080"]


def test_endpoint_names_over_15_characters_are_refused_from_schema_2_2(tmp_path: Path) -> None:
    message = refusal(tmp_path, devfile_text("2.2.0", f"[{{name: {LONG_NAME}, targetPort: 8080}}]"))
    assert "components[0].container.endpoints[0].name" in message
    assert "at most 15" in message


def test_endpoint_names_over_63_characters_are_refused_in_schema_2_1(tmp_path: Path) -> None:
    message = refusal(tmp_path, devfile_text("2.1.0", f"[{{name: {'a' * 64}, targetPort: 80}}]"))
    assert "at most 63" in message


def test_an_endpoint_name_that_is_no_port_name_names_its_port_by_number(tmp_path: Path) -> None:
    devfile = load(tmp_path, devfile_text(endpoints="[{name: '8080', targetPort: 8080}]"))
    pod, _ = pod_and_service(devfile)
    assert pod["containers"][0]["ports"][0]["name"] == "port-8080", "a port name needs a letter"


# -- 2. endpoints of one container may share a port; containers may not ----------------------
def test_endpoints_of_one_container_share_a_port_rendered_once(tmp_path: Path) -> None:
    endpoints = """
        - {name: http, targetPort: 8080, path: /}
        - {name: dev-ui, targetPort: 8080, path: /q/dev, exposure: none}
        - {name: debug, targetPort: 5005, exposure: none}
        - {name: metrics, targetPort: 9000, exposure: none}
        - {name: metrics-public, targetPort: 9000, exposure: internal}"""
    devfile = load(tmp_path, devfile_text(endpoints=endpoints))
    assert [e.path for e in devfile.app_container.endpoints][:2] == ["/", "/q/dev"]
    pod, service = pod_and_service(devfile)
    ports = pod["containers"][0]["ports"]
    assert [(p["name"], p["containerPort"]) for p in ports] == [
        ("http", 8080),
        ("debug", 5005),
        ("metrics", 9000),
    ]
    assert [(p["name"], p["port"]) for p in service["ports"]] == [
        ("http", 8080),
        ("metrics", 9000),
    ], "a port is in the Service when any endpoint on it is exposed"


def test_two_containers_cannot_share_an_endpoint_port(tmp_path: Path) -> None:
    other = """\
  - name: tools
    container:
      image: localhost/tools:1
      endpoints: [{name: tools-http, targetPort: 8080}]
"""
    message = refusal(tmp_path, devfile_text(components=other))
    assert "components[1].container.endpoints[0].targetPort" in message
    assert "also an endpoint of container 'runtime'" in message


def test_an_endpoint_name_used_twice_is_refused(tmp_path: Path) -> None:
    endpoints = "[{name: http, targetPort: 8080}, {name: http, targetPort: 8081}]"
    message = refusal(tmp_path, devfile_text(endpoints=endpoints))
    assert "endpoints[1].name" in message and "own name" in message


# -- 3. a parent uri a fetch cannot take: one line naming file and field ---------------------
@pytest.fixture
def server() -> Iterator[MisbehavingServer]:
    with misbehaving_server() as running:
        yield running


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYODO_CACHE_DIR", str(tmp_path / "cache"))


def child_of(uri: str) -> str:
    return f"schemaVersion: 2.2.0\nmetadata: {{name: child}}\nparent: {{uri: '{uri}'}}\n"


def parent_refusal(tmp_path: Path, uri: str) -> str:
    """The one line a child of ``uri`` is refused with, checked to name the field and to come
    within the fetch's bounds."""
    started = time.monotonic()
    message = refusal(tmp_path, child_of(uri))
    assert "devfile.yaml: parent.uri:" in message
    assert time.monotonic() - started < 15
    return message


def test_a_parent_uri_no_url_can_hold_is_one_line_naming_the_field(tmp_path: Path) -> None:
    message = parent_refusal(tmp_path, "https://{{ host }}/devfiles/nodejs")
    assert "not a valid URL" in message and "template" in message


@pytest.mark.parametrize(
    ("how", "body", "said"),
    [
        ("close", b"", "closed the connection without answering"),
        ("garbage", b"\x00\xffnot http at all\r\n\r\n", "not HTTP"),
        ("short", b"schemaVersion: 2.2.0\n", "ended early"),
        ("loop", b"", "302"),
        ("onward", b"", "302"),
        ("ftp", b"", "redirects to ftp://"),
        ("file", b"", "'file:///etc/passwd' is not allowed"),
        ("big", b"", "more than 1 MiB"),
        ("longline", b"", "not HTTP"),
    ],
)
def test_every_way_a_parent_server_misbehaves_is_one_line_naming_the_field(
    tmp_path: Path, server: MisbehavingServer, how: str, body: bytes, said: str
) -> None:
    assert said in parent_refusal(tmp_path, server.url(how, body))


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"\xff\xfe\x00bad", "not UTF-8"),
        (b"components: [unclosed\n", "is not valid YAML"),
        (b"- a list\n", "is not a devfile"),
    ],
)
def test_a_parent_answer_that_is_no_devfile_is_one_line_naming_the_field(
    tmp_path: Path, server: MisbehavingServer, body: bytes, said: str
) -> None:
    assert said in parent_refusal(tmp_path, server.url("ok", body))


def test_a_parent_uri_whose_tls_fails_is_one_line_naming_the_field(
    tmp_path: Path, server: MisbehavingServer
) -> None:
    uri = server.url("ok", b"schemaVersion: 2.2.0\n", "https")  # the server speaks plain HTTP
    assert "TLS failed" in parent_refusal(tmp_path, uri)


def test_a_trickling_answer_is_bounded_by_the_fetch_timeout(server: MisbehavingServer) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match="took longer than 1 s"):
        fetch_url(server.url("trickle"), timeout=1)
    assert time.monotonic() - started < 5


def test_a_parent_uri_that_is_no_string_is_refused(tmp_path: Path) -> None:
    text = "schemaVersion: 2.2.0\nmetadata: {name: child}\nparent: {uri: [a, b]}\n"
    assert "parent.uri: expected a string, got list" in refusal(tmp_path, text)


# -- 4. an endpoint path without a leading / ---------------------------------------------------
class _Hello(http.server.BaseHTTPRequestHandler):
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"hi")

    def log_message(self, *args: Any) -> None:
        pass


def test_an_endpoint_path_without_a_slash_makes_a_url_that_answers(tmp_path: Path) -> None:
    devfile = load(
        tmp_path, devfile_text(endpoints="[{name: http, targetPort: 8080, path: hello}]")
    )
    endpoint = devfile.app_container.endpoints[0]
    assert endpoint.path == "/hello"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}{endpoint.path}"
        assert wait_answering(url, endpoint, timeout=5) == url
        assert url.endswith(f":{server.server_address[1]}/hello")
        assert _Hello.paths == ["/hello"]
    finally:
        server.shutdown()
        server.server_close()


# -- 5. an apply command naming no component ---------------------------------------------------
APPLY = """\
  - id: deploy-db
    apply: {component: database, group: {kind: deploy}}
"""
DATABASE = """\
  - name: db-manifest
    kubernetes: {inlined: "apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: db}\\n"}
"""


def test_an_apply_command_naming_no_component_is_refused_with_the_fix(tmp_path: Path) -> None:
    message = refusal(tmp_path, devfile_text(commands=APPLY, components=DATABASE))
    assert "commands[0].apply.component: no component 'database'" in message
    assert "use one of: db-manifest" in message


def test_an_apply_command_naming_its_kubernetes_component_loads(tmp_path: Path) -> None:
    text = devfile_text(commands=APPLY.replace("database", "db-manifest"), components=DATABASE)
    devfile = load(tmp_path, text)
    assert not devfile.kubernetes[0].deploy_by_default, "applied by the deploy command only"


# -- 6. exec commands but no run command (Che devfiles) ---------------------------------------
CHE_TASKS = """\
  - id: install
    exec: {component: runtime, commandLine: npm install, group: {kind: build}}
  - id: test
    exec: {component: runtime, commandLine: npm test, label: Run tests}
"""


def app_env(devfile: Devfile) -> dict[str, str]:
    pod, _ = pod_and_service(devfile)
    return {e["name"]: e.get("value", "") for e in pod["containers"][0]["env"]}


def test_a_devfile_without_a_run_command_loads_and_says_nothing_is_started(
    tmp_path: Path,
) -> None:
    devfile = load(tmp_path, devfile_text(commands=CHE_TASKS))
    assert f"devfile.yaml: commands: {NO_RUN_COMMAND}" in devfile.notes
    assert devfile.starts_nothing and not devfile.s2i


def test_without_a_run_command_the_pod_builds_and_idles_instead_of_an_s2i_run(
    tmp_path: Path,
) -> None:
    env = app_env(load(tmp_path, devfile_text(commands=CHE_TASKS)))
    assert env["PYODO_COMMAND_BUILD"] == "npm install"
    assert NO_RUN_COMMAND in env["PYODO_COMMAND_RUN"], "the container log says why"
    assert "sleep" in env["PYODO_COMMAND_RUN"], "idles: never the image's S2I run script"
    assert "/opt/odo/bin/busybox" not in env["PYODO_COMMAND_RUN"], (
        "the image's own sleep: the inject layout brings no busybox, and a loop whose sleep "
        "is missing spins"
    )
    no_build = app_env(load(tmp_path, devfile_text(commands=CHE_TASKS.split("  - id: test")[0])))
    assert no_build["PYODO_COMMAND_BUILD"] == "npm install"
    tasks_only = CHE_TASKS.replace(", group: {kind: build}", "")
    assert app_env(load(tmp_path, devfile_text(commands=tasks_only)))["PYODO_COMMAND_BUILD"] == (
        ":"
    ), "no build command: nothing is built, not the image's S2I assemble"


def test_a_devfile_with_a_run_command_is_not_affected(tmp_path: Path) -> None:
    run = (
        "  - id: run\n    exec: {component: runtime, commandLine: npm start, group: {kind: run}}\n"
    )
    devfile = load(tmp_path, devfile_text(commands=CHE_TASKS + run))
    assert not devfile.starts_nothing
    assert not any(NO_RUN_COMMAND in note for note in devfile.notes)
    assert app_env(devfile)["PYODO_COMMAND_RUN"] == "npm start"


def test_without_a_run_command_the_build_step_is_told_to_start_nothing(tmp_path: Path) -> None:
    """assemble-and-restart (agent or exec path alike) builds, prints NO_RUN_COMMAND into the
    push's own output and starts nothing when PYODO_START=false (test_images_scripts runs it)."""
    assert app_env(load(tmp_path, devfile_text(commands=CHE_TASKS)))["PYODO_START"] == "false"
    with_run = CHE_TASKS + (
        "  - id: run\n"
        "    exec: {component: runtime, commandLine: node server.js, group: {kind: run}}\n"
    )
    assert app_env(load(tmp_path, devfile_text(commands=with_run)))["PYODO_START"] == "true"
    script = (RUNTIME_DIR / "init" / "bin" / "assemble-and-restart").read_text()
    assert f"[pyodo] {NO_RUN_COMMAND}" in script, "the script says the devfile's words"


# -- a devfile with no command at all (GitLab workspace devfiles, Che's editor-only ones) -------
GITLAB_WORKSPACE = """\
schemaVersion: 2.2.0
components:
  - name: tooling-container
    attributes: {gl/inject-editor: true}
    container:
      image: localhost/pyodo/builder-nodejs:bookworm
      endpoints: [{name: http-3000, targetPort: 3000}]
"""


def test_a_devfile_without_commands_leaves_the_choice_to_the_image(tmp_path: Path) -> None:
    """No command at all: an S2I builder image's scripts build and run the app (seed 000), and
    an image without them (an IDE's) is synced and starts nothing: assemble-and-restart decides
    in the container, where the image is known (test_images_scripts runs both)."""
    devfile = load(tmp_path, GITLAB_WORKSPACE)
    assert devfile.s2i and not devfile.starts_nothing
    env = app_env(devfile)
    assert env["PYODO_COMMAND_RUN"] == "" and env["PYODO_START"] == "true"
    assert env["PYODO_S2I_SCRIPTS"] == "/usr/libexec/s2i"
    script = (RUNTIME_DIR / "init" / "bin" / "assemble-and-restart").read_text()
    assert "no run command in the devfile and no $PYODO_S2I_SCRIPTS/run in the image" in script
