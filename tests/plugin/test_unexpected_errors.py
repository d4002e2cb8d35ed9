"""An error pyodo did not mean fails the test as one "pyodo bug" line, not a traceback
through the plugin; PYODO_DEBUG=1 or --verbose shows the traceback."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Fake

TEST = "def test_one(pyodo_endpoint):\n    pass\n"


def test_a_bug_while_deploying_is_one_line(fake: Fake) -> None:
    (fake.component("app") / "BUG").write_text("")
    fake.pytester.makepyfile(TEST)
    result = fake.pytester.runpytest("--pyodo-component=app")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["pyodo bug: RuntimeError: fake engine tripped (run with PYODO_DEBUG=1 or --verbose *)"]
    )
    assert "second line" not in result.stdout.str()
    assert "Traceback" not in result.stdout.str()


def test_pyodo_debug_shows_the_traceback_of_a_bug(fake: Fake, monkeypatch) -> None:
    (fake.component("app") / "BUG").write_text("")
    fake.pytester.makepyfile(TEST)
    monkeypatch.setenv("PYODO_DEBUG", "1")
    result = fake.pytester.runpytest("--pyodo-component=app")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["E * RuntimeError: fake engine tripped", "E * second line"])
