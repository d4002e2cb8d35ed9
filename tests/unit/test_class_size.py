"""No class in the packages is over 250 lines: a class that long holds more than one job.

The companion of tests/unit/test_function_size.py (functions: 60 lines). ``ALLOWED`` is the
shrinking list of classes still waiting to be split; a class on it that got short enough (or
is gone) fails the test too, so the list only ever gets shorter.
"""

from __future__ import annotations

import ast

import pytest

from tests.unit.sizes import lengths, walk

MAX_LINES = 250

#: ``path::Qualified.Name`` -> its length in lines when it was listed (for the follow-up that
#: splits it; not a ceiling). Remove entries, never add.
ALLOWED: dict[str, int] = {}


@pytest.fixture(scope="module")
def classes() -> dict[str, int]:
    return lengths((ast.ClassDef,))


def test_no_class_is_over_the_limit(classes: dict[str, int]) -> None:
    long = {k: n for k, n in classes.items() if n > MAX_LINES and k not in ALLOWED}
    assert long == {}, f"split these (over {MAX_LINES} lines): {long}"


def test_the_allowlist_only_names_classes_that_are_still_long(classes: dict[str, int]) -> None:
    stale = {k: classes.get(k, 0) for k in ALLOWED if classes.get(k, 0) <= MAX_LINES}
    assert stale == {}, f"short enough (or gone) now: remove from ALLOWED: {stale}"


def test_the_walk_measures_nested_classes_by_their_qualified_name() -> None:
    source = "class A:\n    class B:\n        x = 1\n\n        y = 2\n\n"
    source += "def f():\n    class C: ...\n"
    found: dict[str, int] = {}
    walk(ast.parse(source), "m.py", (ast.ClassDef,), found)
    assert found == {"m.py::A": 5, "m.py::A.B": 4, "m.py::f.C": 1}
