"""``doit dev`` as a task dict and as ``python -m pyodo_tasks.dev``, without a cluster."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from pyodo_tasks.dev.__main__ import parser
from pyodo_tasks.tasks import ComponentTasks
from tests.commands import doit

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "nodejs"


def dev_task() -> dict:
    return next(t for t in ComponentTasks(EXAMPLE).tasks() if t["basename"] == "dev")


def test_dev_task_takes_seconds_and_cleanup_and_always_runs() -> None:
    task = dev_task()
    params = {p["name"]: p for p in task["params"]}
    assert params["seconds"]["type"] is float and params["seconds"]["default"] == 0
    assert params["cleanup"]["type"] is bool and params["cleanup"]["default"] is False
    assert task["uptodate"] == [False]
    assert task["verbosity"] == 2, "the live status and build log reach the terminal"


def test_listing_the_dev_task_imports_no_session() -> None:
    code = (
        "import sys; from pyodo_tasks.tasks import ComponentTasks; "
        f"list(ComponentTasks({str(EXAMPLE)!r}).tasks()); "
        "print('pyodo_tasks.dev.session' in sys.modules, 'watchfiles' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["False", "False"]


def test_doit_help_shows_the_dev_options() -> None:
    out = doit(EXAMPLE, "help", "dev", timeout=60, check=True).stdout
    assert "--seconds" in out and "--cleanup" in out


def test_cli_parses_images_and_bounds() -> None:
    args = parser().parse_args(["comp", "--seconds", "5", "--cleanup", "--image", "rt=img:1"])
    assert (args.path, args.seconds, args.cleanup, args.image) == (
        "comp",
        5.0,
        True,
        [("rt", "img:1")],
    )


def test_cli_refuses_to_start_on_an_invalid_devfile_naming_the_field(tmp_path: Path) -> None:
    component = tmp_path / "c"
    shutil.copytree(EXAMPLE, component)
    devfile = component / "devfile.yaml"
    devfile.write_text(devfile.read_text().replace("targetPort: 3000", "targetPort: nope"))
    proc = subprocess.run(
        [sys.executable, "-m", "pyodo_tasks.dev", str(component), "--seconds", "5"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "targetPort" in proc.stderr and proc.stderr.startswith("pyodo: ")


def test_dev_task_hands_the_session_doits_variables_like_push(monkeypatch) -> None:
    """``doit dev layout=inject devfile_registry=…`` reaches the session's environment, as
    ``doit push``'s variables reach its Component (they were dropped on the way to dev)."""
    from pyodo_tasks import dev

    seen: dict = {}
    monkeypatch.setattr(dev, "run_dev", lambda path, options, **_: seen.update(vars(options)))
    tasks = ComponentTasks(
        EXAMPLE, settings={"PYODO_LAYOUT": "inject"}, devfile_registry="http://127.0.0.1:1"
    )
    task = next(t for t in tasks.tasks() if t["basename"] == "dev")
    action, _args, _kwargs = task["actions"][0]
    action(seconds=1, cleanup=False, debug=False)
    assert seen["environ"]["PYODO_LAYOUT"] == "inject"
    assert seen["environ"]["PYODO_DEVFILE_REGISTRY"] == "http://127.0.0.1:1"
