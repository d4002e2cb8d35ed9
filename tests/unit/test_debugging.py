"""Debug mode without a cluster: which port, which debugger, the attach line, the pod's env,
which endpoints ``doit dev`` forwards, and how ``--debug``/``debug=true`` reach the component."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from pyodo_tasks.core.debugging import (
    DEBUGPY,
    JDWP,
    NODE_INSPECTOR,
    attach_lines,
    debug_port,
    debugger,
)
from pyodo_tasks.core.devfile import Devfile, load_devfile
from pyodo_tasks.core.render import RenderContext, render
from pyodo_tasks.dev.__main__ import parser
from pyodo_tasks.dev.debugging import AttachNotice
from pyodo_tasks.dev.forwards import forwardable_endpoints
from pyodo_tasks.dev.state import ForwardedPort
from pyodo_tasks.tasks import ComponentTasks

EXAMPLES = Path(__file__).parents[2] / "examples"

ONLY_DEBUG_PORT = """\
schemaVersion: 2.2.0
metadata: {name: app}
components:
  - name: runtime
    container:
      image: localhost/pyodo/builder-nodejs:bookworm
      env: [{name: DEBUG_PORT, value: "9229"}]
      endpoints: [{name: http, targetPort: 3000}]
commands:
  - id: run
    exec: {component: runtime, commandLine: node server.js, group: {kind: run}}
"""


def example(name: str) -> Devfile:
    return load_devfile(EXAMPLES / name, environ={})


def written(tmp_path: Path, text: str) -> Devfile:
    (tmp_path / "devfile.yaml").write_text(text)
    return load_devfile(tmp_path, environ={})


@pytest.mark.parametrize(
    ("name", "port", "kind"),
    [("python", 5678, DEBUGPY), ("nodejs", 5858, NODE_INSPECTOR), ("java", 5005, JDWP)],
)
def test_each_example_names_its_debug_port_and_debugger(name: str, port: int, kind: str) -> None:
    devfile = example(name)
    found = debug_port(devfile)
    assert found is not None and found.port == port and found.endpoint.protocol == "tcp"
    assert debugger(devfile) == kind
    assert devfile.shell_script("debug")[0], "a default debug command"


def test_debug_port_env_alone_is_a_tcp_endpoint_named_debug(tmp_path: Path) -> None:
    devfile = written(tmp_path, ONLY_DEBUG_PORT)
    found = debug_port(devfile)
    assert found is not None
    assert (found.container, found.port, found.endpoint.name) == ("runtime", 9229, "debug")
    # no debug command: the runtime's language script runs node --inspect
    assert debugger(devfile) == NODE_INSPECTOR


def test_no_debug_endpoint_and_no_debug_port_means_nothing_to_forward(tmp_path: Path) -> None:
    devfile = written(
        tmp_path, ONLY_DEBUG_PORT.replace('env: [{name: DEBUG_PORT, value: "9229"}]', "env: []")
    )
    assert debug_port(devfile) is None


def test_attach_lines_name_the_local_end_for_each_debugger() -> None:
    (dap,) = attach_lines(DEBUGPY, "127.0.0.1", 4321, "/projects")
    launch = json.loads(dap.split("launch.json: ", 1)[1])
    assert launch["connect"] == {"host": "127.0.0.1", "port": 4321}
    assert launch["pathMappings"][0]["remoteRoot"] == "/projects"
    (node,) = attach_lines(NODE_INSPECTOR, "127.0.0.1", 4321, "/projects")
    assert "node inspect 127.0.0.1:4321" in node and "chrome://inspect" in node
    (jdwp,) = attach_lines(JDWP, "127.0.0.1", 4321, "/projects")
    assert "jdb -attach 127.0.0.1:4321" in jdwp


def app_env(objects: list[dict[str, Any]]) -> dict[str, str]:
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", "") for e in container["env"]}


def test_debug_mode_renders_the_debug_switch_and_port_and_rolls_the_pod(tmp_path: Path) -> None:
    text = ONLY_DEBUG_PORT.replace('env: [{name: DEBUG_PORT, value: "9229"}]', "env: []").replace(
        "endpoints: [{name: http, targetPort: 3000}]",
        "endpoints: [{name: http, targetPort: 3000}, {name: debug, targetPort: 9229}]",
    )
    devfile = written(tmp_path, text)
    normal = render(devfile, RenderContext(namespace="dev"))
    debug = render(devfile, RenderContext(namespace="dev", debug=True))
    assert app_env(normal)["PYODO_DEBUG"] == "false" and "DEBUG_PORT" not in app_env(normal)
    assert app_env(debug)["PYODO_DEBUG"] == "true" and app_env(debug)["DEBUG_PORT"] == "9229"
    hashes = {o["metadata"]["annotations"]["pyodo.dev/spec-hash"] for o in normal + debug}
    assert len(hashes) == 2, "switching debug mode rolls the pod"


def fake_component(devfile: Devfile, debug: bool) -> Any:
    return SimpleNamespace(devfile=devfile, context=SimpleNamespace(debug=debug))


def test_dev_forwards_the_debug_endpoint_only_in_debug_mode(tmp_path: Path) -> None:
    devfile = example("python")
    normal = forwardable_endpoints(fake_component(devfile, debug=False))
    assert [e.name for _, e in normal] == ["http"]
    debug = forwardable_endpoints(fake_component(devfile, debug=True))
    assert [(c, e.name, e.target_port) for c, e in debug] == [
        ("py", "http", 8080),
        ("py", "debug", 5678),
    ]
    env_only = written(tmp_path, ONLY_DEBUG_PORT)
    found = forwardable_endpoints(fake_component(env_only, debug=True))
    assert [(e.name, e.target_port) for _, e in found] == [("http", 3000), ("debug", 9229)]


def test_the_attach_line_is_said_once_per_local_port() -> None:
    said: list[str] = []
    notice = AttachNotice(said.append)
    component = fake_component(example("nodejs"), debug=True)
    port = ForwardedPort("debug", "runtime", "127.0.0.1", 40001, 5858, "tcp")
    notice.show(component, [port])
    notice.show(component, [port])  # a restart keeps the forward: nothing new to say
    assert len(said) == 1 and "node inspect 127.0.0.1:40001" in said[0]
    notice.show(component, [ForwardedPort("debug", "runtime", "127.0.0.1", 40002, 5858, "tcp")])
    assert len(said) == 2 and "127.0.0.1:40002" in said[1]
    quiet = AttachNotice(said.append)
    quiet.show(fake_component(example("nodejs"), debug=False), [port])
    assert len(said) == 2


def test_dev_takes_debug_as_an_option_and_on_the_command_line() -> None:
    task = next(t for t in ComponentTasks(EXAMPLES / "nodejs").tasks() if t["basename"] == "dev")
    params = {p["name"]: p for p in task["params"]}
    assert params["debug"]["type"] is bool and params["debug"]["default"] is False
    assert parser().parse_args(["comp", "--debug"]).debug is True
    assert parser().parse_args(["comp"]).debug is False


def test_push_debug_variable_renders_debug_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    monkeypatch.chdir(tmp_path)
    dodo: ModuleType = importlib.import_module("pyodo_tasks.dodo")
    monkeypatch.setattr(dodo, "get_var", {"debug": "true"}.get)
    assert dodo._component_tasks().debug is True
    monkeypatch.setattr(dodo, "get_var", {}.get)
    assert dodo._component_tasks().debug is False


class ForwardingStub:
    """What :func:`forward_debugger` asks of a component: its devfile and a port forward."""

    def __init__(self, devfile: Devfile) -> None:
        self.devfile = devfile
        self.forwarded: list[int] = []

    def forward_port(self, target_port: int, local_port: int = 0) -> Any:
        self.forwarded.append(target_port)
        return SimpleNamespace(host="127.0.0.1", local_port=40123)


def test_the_plugin_forwards_a_debug_port_no_endpoint_declares(tmp_path: Path) -> None:
    """``--pyodo-debug`` on a devfile with only ``DEBUG_PORT`` (the registry stacks' way)
    forwards that port and says how to attach, as ``doit dev --debug`` does."""
    from pyodo_tasks.core.debugging import forward_debugger

    stub = ForwardingStub(written(tmp_path, ONLY_DEBUG_PORT))
    lines = forward_debugger(stub)  # type: ignore[arg-type]
    assert stub.forwarded == [9229]
    assert "node inspect 127.0.0.1:40123" in lines[0]


def test_the_plugin_says_what_to_add_when_there_is_no_debug_port(tmp_path: Path) -> None:
    from pyodo_tasks.core.debugging import forward_debugger

    stub = ForwardingStub(
        written(
            tmp_path,
            ONLY_DEBUG_PORT.replace('env: [{name: DEBUG_PORT, value: "9229"}]', "env: []"),
        )
    )
    (line,) = forward_debugger(stub)  # type: ignore[arg-type]
    assert stub.forwarded == [] and "nothing forwarded" in line and "DEBUG_PORT" in line


class ForwardRecorder(ForwardingStub):
    """A component whose endpoint forwards are recorded by name (``doit forward``)."""

    def __init__(self, devfile: Devfile) -> None:
        super().__init__(devfile)
        self.names: list[str] = []

    def forward(self, name: str | None = None, local_port: int = 0) -> Any:
        self.names.append(str(name))
        return SimpleNamespace(host="127.0.0.1", local_port=40124, address="127.0.0.1:40124")

    def stop_forwards(self) -> None:
        pass


@pytest.mark.parametrize(("debug", "names"), [(False, ["http"]), (True, ["http", "debug"])])
def test_doit_forward_forwards_the_debug_endpoint_only_in_debug_mode(
    debug: bool, names: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from pyodo_tasks.tasks.running import RunningTasks

    tasks = RunningTasks(EXAMPLES / "nodejs", debug=debug)
    recorder = ForwardRecorder(example("nodejs"))
    monkeypatch.setattr(RunningTasks, "component", recorder)
    tasks._forward(seconds=0.01)
    assert recorder.names == names
    assert ("node inspect 127.0.0.1:40124" in capsys.readouterr().out) is debug
