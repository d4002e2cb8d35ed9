"""No function in the packages is over 60 lines: one job per function, readable in one screen.

Complexity (branches) is checked by ruff's C901 (``max-complexity = 15`` in pyproject.toml).
``ALLOWED`` is the shrinking list of functions still waiting to be split; a function on it
that got short enough fails the test too, so the list only ever gets shorter.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pyodo_tasks", "pytest_pyodo")
MAX_LINES = 60

#: ``path::Qualified.name`` -> why it is still long. Remove entries, never add.
ALLOWED: dict[str, str] = {}


def _functions() -> dict[str, int]:
    """``path::qualname`` -> length in lines (def line to last line, decorators excluded)."""
    found: dict[str, int] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            tree = ast.parse(path.read_text(), filename=rel)
            _walk(tree, rel, "", found)
    return found


def _walk(node: ast.AST, rel: str, prefix: str, found: dict[str, int]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = f"{prefix}{child.name}"
            found[f"{rel}::{name}"] = (child.end_lineno or child.lineno) - child.lineno + 1
            _walk(child, rel, f"{name}.", found)
        elif isinstance(child, ast.ClassDef):
            _walk(child, rel, f"{prefix}{child.name}.", found)
        else:
            _walk(child, rel, prefix, found)


@pytest.fixture(scope="module")
def functions() -> dict[str, int]:
    return _functions()


def test_no_function_is_over_the_limit(functions: dict[str, int]) -> None:
    long = {k: n for k, n in functions.items() if n > MAX_LINES and k not in ALLOWED}
    assert long == {}, f"split these (over {MAX_LINES} lines): {long}"


def test_the_allowlist_only_names_functions_that_are_still_long(
    functions: dict[str, int],
) -> None:
    stale = [k for k in ALLOWED if functions.get(k, 0) <= MAX_LINES]
    assert stale == [], f"short enough (or gone) now: remove from ALLOWED: {stale}"
