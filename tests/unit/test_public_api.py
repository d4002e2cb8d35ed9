"""The public API is a short, deliberate list; the engine never imports pytest."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import pyodo_tasks

ENGINE = Path(pyodo_tasks.__file__).parent


def test_exported_names_are_sorted_and_importable() -> None:
    assert pyodo_tasks.__all__ == sorted(pyodo_tasks.__all__)
    for name in pyodo_tasks.__all__:
        assert getattr(pyodo_tasks, name) is not None


LAZY_PACKAGES = [
    "pyodo_tasks",
    "pyodo_tasks.core.devfile",
    "pyodo_tasks.core.kube",
    "pyodo_tasks.dev",
]


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_lazy_exports_resolve_every_public_name_and_only_those(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'nope'"):
        _ = module.nope


def test_importing_the_lazy_packages_loads_neither_the_client_nor_the_dev_session() -> None:
    code = (
        "import sys; " + "; ".join(f"import {p}" for p in LAZY_PACKAGES) + "; "
        "print([m for m in ('kubernetes', 'pyodo_tasks.dev.session') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"


def test_engine_never_imports_pytest() -> None:
    offenders = []
    for path in ENGINE.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "pytest" or n.startswith(("pytest.", "_pytest")) for n in names):
                offenders.append(str(path.relative_to(ENGINE)))
    assert offenders == []


def test_every_error_derives_from_the_root() -> None:
    from pyodo_tasks import errors

    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.PyodoError)
