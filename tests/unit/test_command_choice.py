"""Which command of a group runs: several in one group and none default loads (the devfile API
only warns), is refused at the push naming the fix, and is decided by the user's choice as
odo's ``--build-command``/``--run-command`` decide it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyodo_tasks.core.devfile import load_devfile
from pyodo_tasks.core.devfile.loader import chosen_commands
from pyodo_tasks.core.render import RenderContext, check_commands_decided, render
from pyodo_tasks.errors import DevfileError
from tests.unit.test_devfile import MINIMAL

# Che's shape: a run command next to a stop command of the same group, neither default, and
# two debug commands, neither default.
CHE_SHAPED = MINIMAL.split("commands:")[0] + (
    "commands:\n"
    "  - id: run-application\n"
    "    exec: {component: runtime, commandLine: node server.js, group: {kind: run}}\n"
    "  - id: stop-application\n"
    "    exec: {component: runtime, commandLine: pkill node, group: {kind: run}}\n"
    "  - id: debug-inspect\n"
    "    exec: {component: runtime, commandLine: node --inspect server.js, group: {kind: debug}}\n"
    "  - id: debug-brk\n"
    "    exec: {component: runtime, commandLine: node --inspect-brk server.js, "
    "group: {kind: debug}}\n"
)


@pytest.fixture
def che_shaped(tmp_path: Path) -> Path:
    (tmp_path / "devfile.yaml").write_text(CHE_SHAPED)
    return tmp_path


def _env_of(objects: list[dict]) -> dict[str, str]:
    pod = objects[-1]["spec"]["template"]["spec"]
    return {e["name"]: e.get("value", "") for e in pod["containers"][0]["env"]}


def test_several_run_commands_and_none_default_load(che_shaped: Path) -> None:
    devfile = load_devfile(che_shaped, environ={})
    assert devfile.default_command("run") is None
    assert devfile.undecided("run") == ("run-application", "stop-application")


def test_the_push_refuses_an_undecided_run_group_naming_the_choice(che_shaped: Path) -> None:
    devfile = load_devfile(che_shaped, environ={})
    render(devfile, RenderContext(namespace="ns"))  # a delete renders to find the objects
    with pytest.raises(DevfileError) as info:
        check_commands_decided(devfile, RenderContext(namespace="ns"))
    message = str(info.value)
    assert "several run commands and none is default: run-application, stop-application" in message
    assert "run_command=ID" in message and "isDefault" in message
    assert "\n" not in message


def test_a_chosen_run_command_runs(che_shaped: Path) -> None:
    devfile = load_devfile(che_shaped, environ={}).with_commands({"run": "Run-Application"})
    env = _env_of(render(devfile, RenderContext(namespace="ns")))
    assert env["PYODO_COMMAND_RUN"] == "node server.js"


def test_the_debug_group_is_decided_only_when_debugging(che_shaped: Path) -> None:
    devfile = load_devfile(che_shaped, environ={}).with_commands({"run": "run-application"})
    check_commands_decided(devfile, RenderContext(namespace="ns"))
    with pytest.raises(DevfileError, match="several debug commands and none is default"):
        check_commands_decided(devfile, RenderContext(namespace="ns", debug=True))
    chosen = devfile.with_commands({"debug": "debug-brk"})
    env = _env_of(render(chosen, RenderContext(namespace="ns", debug=True)))
    assert env["PYODO_COMMAND_DEBUG"] == "node --inspect-brk server.js"


def test_a_choice_naming_no_command_of_the_group_offers_the_groups_ids(che_shaped: Path) -> None:
    devfile = load_devfile(che_shaped, environ={})
    with pytest.raises(DevfileError) as info:
        devfile.with_commands({"run": "debug-brk"})
    assert "no run command 'debug-brk' (run_command)" in str(info.value)
    assert "use one of: run-application, stop-application" in str(info.value)


def test_choices_come_from_render_options_over_the_environment() -> None:
    options = {"run_command": "a", "layout": "inject"}
    environ = {"PYODO_RUN_COMMAND": "b", "PYODO_BUILD_COMMAND": "c", "PYODO_DEBUG_COMMAND": " "}
    assert chosen_commands(options, environ) == {"run": "a", "build": "c"}
    assert options == {"layout": "inject"}  # the choice shapes the devfile, not the render
