"""Nothing outside ``core.kube`` reaches past :class:`Kube` to the raw client it wraps.

import-linter (``lint-imports``) keeps the official client's *imports* inside ``core.kube``; this
catches the other way past the boundary: using a ``Kube``'s client objects (``kube.core``,
``kube.api``, ``kube.stream_core``…) from outside. Add a ``Kube`` method instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RAW = {"api", "core", "apps", "stream_api", "stream_core"}
BOUNDARY = ROOT / "pyodo_tasks" / "core" / "kube"


def _holder(node: ast.expr) -> str:
    """The last name of the expression an attribute is read from (``self.kube`` -> ``kube``)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def test_no_module_outside_core_kube_uses_kubes_raw_client() -> None:
    offenders = []
    for folder in ("pyodo_tasks", "pytest_pyodo", "tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if BOUNDARY in path.parents:
                continue
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr in RAW
                    and "kube" in _holder(node.value).lower()
                ):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
    assert offenders == []
