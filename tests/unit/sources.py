"""The repository's Python sources as syntax trees, for the tests that read the code rather
than run it (test_layers.py, test_settings_reads.py, and the size checks through sizes.py)."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The shipped packages.
PACKAGES = ("pyodo_tasks", "pytest_pyodo")


def parsed(folders: Iterable[str] = PACKAGES) -> Iterator[tuple[str, ast.Module]]:
    """``(path relative to the repository, its syntax tree)`` of every module below
    ``folders``, in path order."""
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            yield rel, ast.parse(path.read_text(encoding="utf-8"), filename=rel)


def last_name(node: ast.expr) -> str:
    """The last name of an expression (``self.kube`` -> ``kube``; ``os.getenv`` -> ``getenv``),
    or "" when it ends in something else (a call, a subscript)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""
