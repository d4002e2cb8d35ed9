"""No function in the packages is over 60 lines: one job per function, readable in one screen.

Complexity (branches) is checked by ruff's C901 (``max-complexity = 15`` in pyproject.toml).
``ALLOWED`` is the shrinking list of functions still waiting to be split; a function on it
that got short enough fails the test too, so the list only ever gets shorter.
"""

from __future__ import annotations

import pytest

from tests.unit.sizes import FUNCTIONS, lengths

MAX_LINES = 60

#: ``path::Qualified.name`` -> why it is still long. Remove entries, never add.
ALLOWED: dict[str, str] = {}


@pytest.fixture(scope="module")
def functions() -> dict[str, int]:
    return lengths(FUNCTIONS)


def test_no_function_is_over_the_limit(functions: dict[str, int]) -> None:
    long = {k: n for k, n in functions.items() if n > MAX_LINES and k not in ALLOWED}
    assert long == {}, f"split these (over {MAX_LINES} lines): {long}"


def test_the_allowlist_only_names_functions_that_are_still_long(
    functions: dict[str, int],
) -> None:
    stale = [k for k in ALLOWED if functions.get(k, 0) <= MAX_LINES]
    assert stale == [], f"short enough (or gone) now: remove from ALLOWED: {stale}"
