"""A component's ``dodo.py`` reads the target and overrides from doit's command line.

Precedence: task option (``--namespace``) > doit variable (``namespace=``) > ``PYODO_*`` >
kubectl. Variables come through doit's public ``get_var``; the options through the one argv
reader, :func:`pyodo_tasks.tasks.params.target_options` (its docstring says why). No cluster:
the end-to-end cases fail on a broken kubeconfig before pyodo would contact one.
"""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from pyodo_tasks.core.devfile import load_devfile
from tests.commands import doit, user_environ

EXAMPLE = Path(__file__).parents[2] / "examples" / "nodejs"


@pytest.fixture
def variables() -> dict[str, str]:
    """doit's command-line variables (``name=value``) as the test sets them."""
    return {}


@pytest.fixture
def dodo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str]) -> ModuleType:
    """``pyodo_tasks.dodo``, its ``get_var`` reading :func:`variables`, no ``PYODO_*`` target."""
    monkeypatch.chdir(tmp_path)  # its import makes .pyodo in the working directory
    module = importlib.import_module("pyodo_tasks.dodo")
    monkeypatch.setattr(module, "get_var", variables.get)
    for name in ("NAMESPACE", "CONTEXT", "KUBECONFIG"):
        monkeypatch.delenv(f"PYODO_{name}", raising=False)
    return module


def test_the_target_is_option_over_variable_over_environment(
    dodo: ModuleType, variables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYODO_NAMESPACE", "from-env")
    monkeypatch.setenv("PYODO_CONTEXT", "env-context")
    monkeypatch.setattr(sys, "argv", ["doit", "push", "--namespace", "from-option"])
    variables.update(namespace="from-variable", kubeconfig="/from/variable")
    target = dodo._target()
    assert target.namespace == "from-option"
    assert target.kubeconfig == "/from/variable"
    assert target.context == "env-context"

    monkeypatch.setattr(sys, "argv", ["doit", "push"])
    assert dodo._target().namespace == "from-variable"
    variables.clear()
    assert dodo._target().namespace == "from-env"


def test_an_empty_value_falls_through_to_the_next_source(
    dodo: ModuleType, variables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYODO_NAMESPACE", "from-env")
    monkeypatch.setattr(sys, "argv", ["doit", "push"])
    variables.update(namespace="")
    assert dodo._target().namespace == "from-env"


def test_image_and_registry_variables_reach_the_component(
    dodo: ModuleType, variables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", ["doit", "push"])
    variables.update(
        {"image.runtime": "localhost/mine:1", "image.nosuch": "x", "devfile_registry": "/reg"}
    )
    tasks = dodo._component_tasks()
    assert tasks.devfile_registry == "/reg"
    devfile = load_devfile(EXAMPLE, image_overrides=tasks.image_overrides, environ={})
    assert devfile.app_container.image == "localhost/mine:1"


# -- through doit itself: the option and the variable reach the whole graph ---------------------


@pytest.fixture
def component(tmp_path: Path) -> Path:
    path = tmp_path / "app"
    shutil.copytree(EXAMPLE, path, ignore=shutil.ignore_patterns(".pyodo", ".doit.db*"))
    return path


@pytest.fixture
def broken(tmp_path: Path) -> dict[str, Path]:
    """Two kubeconfigs that fail differently, so the message tells which one was used."""
    not_utf8 = tmp_path / "not-utf8"
    not_utf8.write_bytes(b"apiVersion: v1\nclusters: [{name: caf\xe9}]\n")
    a_list = tmp_path / "a-list"
    a_list.write_text("- not a mapping\n")
    return {"not UTF-8": not_utf8, "not a kubeconfig": a_list}


def _push(component: Path, *args: str, **env: str) -> str:
    proc = doit(component, "push", *args, env=user_environ(**env))
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    (line,) = proc.stderr.splitlines()
    return line


def test_doit_push_kubeconfig_option_beats_the_variable_and_the_environment(
    component: Path, broken: dict[str, Path]
) -> None:
    by_option = _push(
        component,
        f"kubeconfig={broken['not a kubeconfig']}",
        "--kubeconfig",
        str(broken["not UTF-8"]),
        PYODO_KUBECONFIG=str(broken["not a kubeconfig"]),
    )
    assert f"{broken['not UTF-8']} is not UTF-8" in by_option
    by_variable = _push(
        component,
        f"kubeconfig={broken['not UTF-8']}",
        PYODO_KUBECONFIG=str(broken["not a kubeconfig"]),
    )
    assert f"{broken['not UTF-8']} is not UTF-8" in by_variable
