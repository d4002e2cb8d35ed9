"""The public API is a short, deliberate list; the engine never imports pytest."""

from __future__ import annotations

import ast
from pathlib import Path

import pyodo_tasks

ENGINE = Path(pyodo_tasks.__file__).parent


def test_exported_names_are_sorted_and_importable() -> None:
    assert pyodo_tasks.__all__ == sorted(pyodo_tasks.__all__)
    for name in pyodo_tasks.__all__:
        assert getattr(pyodo_tasks, name) is not None


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
