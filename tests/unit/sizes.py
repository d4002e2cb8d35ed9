"""Lengths of the packages' classes and functions: what tests/unit/test_class_size.py and
tests/unit/test_function_size.py hold against their limits."""

from __future__ import annotations

import ast

from tests.unit.sources import parsed

FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
Kinds = tuple[type[ast.AST], ...]


def lengths(measured: Kinds) -> dict[str, int]:
    """``path::qualname`` -> length in lines (``class``/``def`` line to last line, decorators
    excluded) of every definition of the ``measured`` kinds in the packages."""
    found: dict[str, int] = {}
    for rel, tree in parsed():
        walk(tree, rel, measured, found)
    return found


def walk(node: ast.AST, rel: str, measured: Kinds, found: dict[str, int], prefix: str = "") -> None:
    """Add the ``measured`` definitions below ``node`` to ``found``, named by qualified name
    (a class inside a function: ``f.C``)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.ClassDef, *FUNCTIONS)):
            name = f"{prefix}{child.name}"
            if isinstance(child, measured):
                found[f"{rel}::{name}"] = (child.end_lineno or child.lineno) - child.lineno + 1
            walk(child, rel, measured, found, f"{name}.")
        else:
            walk(child, rel, measured, found, prefix)
