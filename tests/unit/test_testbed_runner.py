"""The one host runner (``pyodo_tasks/host.py``), and the rules that every host command has a
timeout and goes through it: no other module of ``pyodo_tasks`` or ``pytest_pyodo`` imports
``subprocess``."""

from __future__ import annotations

import ast
import sys
import time
from pathlib import Path

import pytest

from pyodo_tasks import host
from pyodo_tasks.core.wait import wait_for
from pyodo_tasks.errors import ClusterSetupError
from pyodo_tasks.testbed import procs

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "pyodo_tasks" / "host.py"
#: Not a host command: the refresh's helper interpreter (pyodo's own Python, binary pipes,
#: started to run BESIDE this process's work, which host.run cannot), its wait bounded there.
HELPER = ROOT / "pyodo_tasks" / "core" / "lstats.py"
PY = sys.executable


def test_a_command_returns_its_output_and_status() -> None:
    result = host.run(
        [PY, "-c", "import sys; print('out'); print('err', file=sys.stderr)"],
        timeout=30,
        what="saying hello",
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "out\n", "err\n")


def test_arguments_are_never_interpreted_by_a_shell(tmp_path) -> None:
    result = host.run(
        [PY, "-c", "import sys; print(sys.argv[1])", "$(touch x); *"],
        timeout=30,
        what="echo",
        cwd=tmp_path,
    )
    assert result.stdout == "$(touch x); *\n"
    assert list(tmp_path.iterdir()) == []


def test_a_failure_names_what_was_done_the_command_the_status_and_the_output_tail() -> None:
    code = "import sys\nfor i in range(100): print(f'line {i}')\nsys.exit(3)"
    with pytest.raises(host.HostCommandError) as info:
        host.run([PY, "-c", code], timeout=30, what="installing containerd")
    message = str(info.value)
    assert message.startswith("installing containerd: `")
    assert "exited 3" in message
    assert "line 99" in message and "line 74" not in message  # the last 25 lines only
    assert isinstance(info.value, ClusterSetupError)
    assert info.value.returncode == 3


def test_check_false_returns_a_failed_status_instead_of_raising() -> None:
    result = host.run([PY, "-c", "raise SystemExit(4)"], timeout=30, what="x", check=False)
    assert result.returncode == 4


def test_a_missing_program_is_one_clear_error() -> None:
    with pytest.raises(host.HostCommandError, match="no-such-tool-pyodo is not installed"):
        host.run(["no-such-tool-pyodo", "--version"], timeout=30, what="checking a tool")


@pytest.mark.parametrize("streamed", [False, True])
def test_a_command_past_its_timeout_is_killed_and_reported_with_its_output(
    streamed: bool, tmp_path
) -> None:
    code = "import time; print('started', flush=True); time.sleep(60)"
    started = time.monotonic()
    kwargs = {"on_line": lambda _line: None} if streamed else {}
    with pytest.raises(host.HostCommandError, match="did not finish within 1s") as info:
        host.run([PY, "-c", code], timeout=1, what="waiting for nothing", **kwargs)
    assert time.monotonic() - started < 15
    assert "started" in str(info.value)


def test_streamed_output_reaches_the_callback_and_the_log_line_by_line(tmp_path) -> None:
    seen: list[str] = []
    log = tmp_path / "build.log"
    code = "import sys; print('a'); print('b', file=sys.stderr, flush=True); print('c')"
    result = host.run([PY, "-c", code], timeout=30, what="go build", log=log, on_line=seen.append)
    assert sorted(seen) == ["a", "b", "c"]
    assert log.read_text().splitlines()[2:] == seen
    assert log.read_text().startswith(f"\n$ {PY} -c 'import sys;")
    assert result.returncode == 0


def test_env_adds_to_the_environment() -> None:
    code = "import os; print(os.environ['PYODO_X'], 'PATH' in os.environ)"
    result = host.run([PY, "-c", code], timeout=30, what="x", env={"PYODO_X": "1"})
    assert result.stdout == "1 True\n"


_BLOCKING = {
    "subprocess.run",
    "subprocess.call",
    "subprocess.check_call",
    "subprocess.check_output",
}


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def _name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return f"{func.value.id}.{func.attr}"
    return ""


def test_every_subprocess_has_a_timeout() -> None:
    # host.run takes a mandatory timeout; direct subprocess calls must pass one; only the
    # runner itself may use Popen (it enforces its timeout with a watchdog).
    offenders = []
    paths = [
        p for package in ("pyodo_tasks", "pytest_pyodo") for p in (ROOT / package).rglob("*.py")
    ]
    for path in sorted(paths):
        tree = ast.parse(path.read_text())
        for call in _calls(tree):
            name = _name(call)
            rel = f"{path.relative_to(ROOT)}:{call.lineno}"
            if name == "subprocess.Popen" and path not in (RUNNER, HELPER):
                offenders.append(f"{rel} Popen outside host.py")
            elif name in _BLOCKING and not any(k.arg == "timeout" for k in call.keywords):
                offenders.append(f"{rel} {name} without timeout")
    assert offenders == []


def _imports_subprocess(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import) and any(a.name == "subprocess" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "subprocess":
            return True
    return False


def test_host_commands_run_only_through_the_runner() -> None:
    # The test bed, the demo's `doit push`, the init image's docker/podman: all host.run.
    users = sorted(
        str(p.relative_to(ROOT))
        for package in ("pyodo_tasks", "pytest_pyodo")
        for p in (ROOT / package).rglob("*.py")
        if p not in (RUNNER, HELPER) and _imports_subprocess(p)
    )
    assert users == []


@pytest.mark.parametrize("streamed", [False, True])
def test_a_command_past_its_timeout_takes_its_children_with_it(streamed: bool, tmp_path) -> None:
    # go build runs compilers, apt-get runs dpkg: a timeout must not leave them running.
    pid_file = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )
    with pytest.raises(host.HostCommandError, match="did not finish within 1s"):
        kwargs = {"on_line": lambda _line: None} if streamed else {}
        host.run([PY, "-c", code], timeout=1, what="go build", **kwargs)
    child = int(pid_file.read_text())
    wait_for(
        lambda: (True if procs.identify(child) is None else None, "child still running"),
        "the child to be killed with its parent",
        5,
        interval=0.05,
    )
