"""``--pyodo-debug``: the components under test run their devfile's debug command, and the
terminal says where to attach a debugger (the debug endpoint forwarded to a local port).

Why its own module: the option touches the deploy in two places only (the render option, and
the attach line once a component is deployed); keeping both here leaves the fixtures as they
were. The engine does the work (``pyodo_tasks.forward_debugger``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pytest

from pyodo_tasks import forward_debugger

if TYPE_CHECKING:
    from .session import DeployedComponent

__all__ = ["add_debug_option", "announce_debugger", "debug_render_options"]

_OPTION = "--pyodo-debug"
_SHOWN_KEY = pytest.StashKey[set[str]]()


def add_debug_option(parser: pytest.Parser) -> None:
    parser.getgroup("pyodo").addoption(
        _OPTION,
        action="store_true",
        default=False,
        dest="pyodo_debug",
        help="deploy the components in debug mode (the devfile's debug command) and print "
        "where to attach a debugger (their debug endpoint, forwarded)",
    )


def _debugging(config: pytest.Config) -> bool:
    return bool(config.getoption("pyodo_debug", default=False))


def debug_render_options(
    config: pytest.Config, render_options: Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    """``render_options`` with debug mode on under ``--pyodo-debug``, else as given."""
    if not _debugging(config):
        return render_options
    return {**(render_options or {}), "debug": True}


def announce_debugger(config: pytest.Config, deployed: DeployedComponent) -> None:
    """Under ``--pyodo-debug``, once per component: forward its debug endpoint and write the
    attach line on the terminal (above the captured output)."""
    shown = config.stash.setdefault(_SHOWN_KEY, set())
    if not _debugging(config) or deployed.name in shown:
        return
    shown.add(deployed.name)
    lines = forward_debugger(deployed.component)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    # A fixture's setup runs under output capture: the line must reach the terminal now.
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        for line in lines:
            reporter.write_line(f"[pyodo] {line}")
