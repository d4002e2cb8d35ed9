"""``--pyodo-debug``: components are deployed in debug mode and the terminal says where to
attach (the forward itself is tested on the cluster, tests/cluster/test_debug_real.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Fake


def test_debug_option_deploys_in_debug_mode_and_says_so_once(fake: Fake) -> None:
    fake.component("app")
    fake.pytester.makepyfile(
        """
        def test_one(pyodo_component):
            pass

        def test_two(pyodo_deploy):
            pyodo_deploy("app", render_options={"layout": "inject"})
        """
    )
    result = fake.pytester.runpytest("--pyodo-component=app", "--pyodo-debug")
    result.assert_outcomes(passed=2)
    options = [e["render_options"] for e in fake.events("component")]
    assert options == [{"debug": True}, {"layout": "inject", "debug": True}]
    lines = [line for line in result.outlines if line.startswith("[pyodo] app:")]
    assert len(lines) == 1 and "no endpoint named debug" in lines[0], result.outlines


def test_without_the_option_nothing_changes(fake: Fake) -> None:
    fake.component("app")
    fake.pytester.makepyfile("def test_one(pyodo_component):\n    pass\n")
    result = fake.pytester.runpytest("--pyodo-component=app")
    result.assert_outcomes(passed=1)
    assert [e["render_options"] for e in fake.events("component")] == [None]
    assert "[pyodo] app:" not in result.stdout.str()


def test_under_xdist_the_workers_attach_line_reaches_the_terminal_once(fake: Fake) -> None:
    fake.component("app")
    fake.pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(4))
        def test_one(pyodo_component, n):
            pass
        """
    )
    result = fake.pytester.runpytest_subprocess("--pyodo-component=app", "--pyodo-debug", "-n", "2")
    result.assert_outcomes(passed=4)
    lines = [line for line in result.outlines if line.startswith("[pyodo] app:")]
    assert len(lines) == 1 and "no endpoint named debug" in lines[0], result.outlines
