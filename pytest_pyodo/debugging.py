"""``--pyodo-debug``: the components under test run their devfile's debug command, and the
terminal says where to attach a debugger (the debug endpoint forwarded to a local port).

Why its own module: the option touches the deploy in two places only (the render option, and
the attach line once a component is deployed); keeping both here leaves the fixtures as they
were. The engine does the work (``pyodo_tasks.forward_debugger``).

Under xdist a worker's terminal is nowhere: a worker puts its attach line on the test's
``user_properties`` (they travel with the setup report, sent as soon as the fixture is set up,
before a breakpoint can stop the test) and the controller writes it (:func:`relay_worker_attach`),
once per component.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pytest

from pyodo_tasks import forward_debugger

if TYPE_CHECKING:
    from .session import DeployedComponent

__all__ = [
    "add_debug_option",
    "announce_debugger",
    "debug_render_options",
    "relay_worker_attach",
]

_OPTION = "--pyodo-debug"
_SHOWN_KEY = pytest.StashKey[set[str]]()
#: The ``user_properties`` key of an attach line a worker hands to the controller.
ATTACH_PROPERTY = "pyodo.debugger"


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


def announce_debugger(
    config: pytest.Config, item: pytest.Item, deployed: DeployedComponent
) -> None:
    """Under ``--pyodo-debug``, once per component: forward its debug endpoint and write the
    attach line on the terminal (above the captured output), or, in an xdist worker, hand it to
    the controller on ``item``'s report."""
    shown = config.stash.setdefault(_SHOWN_KEY, set())
    if not _debugging(config) or deployed.name in shown:
        return
    shown.add(deployed.name)
    lines = [f"[pyodo] {line}" for line in forward_debugger(deployed.component)]
    if hasattr(config, "workerinput"):
        key = f"{ATTACH_PROPERTY}.{deployed.name}"
        item.user_properties.extend((key, line) for line in lines)
        return
    _write(config, lines)


def relay_worker_attach(config: pytest.Config) -> None:
    """In the xdist controller under ``--pyodo-debug``: write the attach lines the workers'
    reports carry, once per component (the workers sharing a deployment each forward it to a
    port of their own: any of them reaches the debugger, and it stays open for the session)."""
    if hasattr(config, "workerinput") or not _debugging(config):
        return
    config.pluginmanager.register(_AttachRelay(config), "pyodo-debug-attach")


class _AttachRelay:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        shown = self.config.stash.setdefault(_SHOWN_KEY, set())
        lines: dict[str, list[str]] = {}
        for key, value in report.user_properties:
            name = str(key).removeprefix(f"{ATTACH_PROPERTY}.")
            if name != key and name not in shown:
                lines.setdefault(name, []).append(str(value))
        if lines:
            shown.update(lines)
            _write(self.config, [line for group in lines.values() for line in group])


def _write(config: pytest.Config, lines: list[str]) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    # A fixture's setup runs under output capture: the line must reach the terminal now.
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        for line in lines:
            reporter.write_line(line)
