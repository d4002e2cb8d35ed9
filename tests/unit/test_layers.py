"""Nothing outside ``core.kube`` reaches past :class:`Kube` to the raw client it wraps.

import-linter (``lint-imports``) keeps the official client's *imports* inside ``core.kube``; this
catches the other way past the boundary: using a ``Kube``'s client objects (``kube.core``,
``kube.api``, ``kube.stream_core``…) from outside. Add a ``Kube`` method instead.
"""

from __future__ import annotations

import ast

from tests.unit.sources import PACKAGES, last_name, parsed

RAW = {"api", "core", "apps", "stream_api", "stream_core"}
BOUNDARY = "pyodo_tasks/core/kube/"


def test_no_module_outside_core_kube_uses_kubes_raw_client() -> None:
    offenders = []
    for rel, tree in parsed((*PACKAGES, "tests", "benchmarks")):
        if rel.startswith(BOUNDARY):
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in RAW
                # the holder: ``self.kube.core`` is read from ``kube``
                and "kube" in last_name(node.value).lower()
            ):
                offenders.append(f"{rel}:{node.lineno} .{node.attr}")
    assert offenders == []
