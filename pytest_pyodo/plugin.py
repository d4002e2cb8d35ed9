"""pytest hooks, options and fixtures for pyodo (thin: the logic lives in :mod:`.session`).

Registered through the ``pytest11`` entry point ``pyodo`` (disable with ``-p no:pyodo``). The
plugin does nothing with a cluster until a test asks for a pyodo fixture. See ``docs/pytest.md``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Generator
from typing import Any

import pytest

from pyodo_tasks.errors import PyodoError
from pyodo_tasks.failures import summary

from . import newhooks
from .fixtures import (
    pyodo_cluster,
    pyodo_component,
    pyodo_component_path,
    pyodo_config,
    pyodo_deploy,
    pyodo_endpoint,
    pyodo_image_overrides,
    pyodo_session,
)
from .options import add_options, read_settings
from .report import debug_section, header_lines, summary_lines
from .state import STATE_KEY, USED_KEY, PluginState

__all__ = [
    "pyodo_cluster",
    "pyodo_component",
    "pyodo_component_path",
    "pyodo_config",
    "pyodo_deploy",
    "pyodo_endpoint",
    "pyodo_image_overrides",
    "pyodo_session",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(newhooks)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "pyodo_component(path, *, image_overrides=None): the component (directory with a "
        "devfile.yaml, relative to the rootdir) that pyodo_component and pyodo_endpoint deploy "
        "for this test, class or module",
    )
    settings = read_settings(config)
    # Push and build output is logged at INFO; let it reach pytest's log capture (and
    # --log-cli-level) unless the user configured this logger themselves.
    pyodo_log = logging.getLogger("pytest_pyodo")
    if pyodo_log.level == logging.NOTSET:
        pyodo_log.setLevel(logging.INFO)
    # xdist workers get the controller's run id (see pytest_configure_node) and their own name.
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        run_id = workerinput.get("pyodo_run_id") or workerinput["testrunuid"][:8]
        state = PluginState(settings, run_id, workerinput["workerid"], distributed=True)
    else:
        state = PluginState(settings, uuid.uuid4().hex[:8])
    config.stash[STATE_KEY] = state


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: hand every worker the run id (one id, one label, for the whole run)."""
    node.workerinput["pyodo_run_id"] = node.config.stash[STATE_KEY].run_id


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist controller: keep what the worker deployed and cleaned up, for the sweep/summary."""
    report = (getattr(node, "workeroutput", None) or {}).get("pyodo")
    if report:
        node.config.stash[STATE_KEY].worker_reports.append(report)


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash[STATE_KEY]
    workers = bool(config.getoption("numprocesses", None))
    return header_lines(state.settings, state.run_id, config.rootpath, workers)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Add each used component's pod status, events and log tail to a failing test's report."""
    report = yield
    if report.failed:
        for handle in item.stash.get(USED_KEY, []):
            report.sections.append(debug_section(handle))
    return report


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Clean up after fixture teardown (a backstop: ``pyodo_session``'s teardown did it)."""
    config = session.config
    state = config.stash.get(STATE_KEY, None)
    if state is None:
        return
    if state.run is not None:
        state.run.cleanup()
        workeroutput = getattr(config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput["pyodo"] = state.run.summary()
    if state.worker_reports and not (state.settings.keep or state.settings.reuse):
        _sweep(state)


def _sweep(state: PluginState) -> None:
    """xdist controller: delete what is still labelled with the run id once workers are done."""
    used = [r for r in state.worker_reports if r.get("kubeconfig")]
    if not used:
        return
    shared = [r["namespace"] for r in used if r.get("shared_namespace")]
    # The Kubernetes client: imported only once workers used a cluster.
    from .session import sweep

    try:
        state.sweep_log.extend(
            sweep(
                used[0]["kubeconfig"],
                used[0]["context"],
                state.run_id,
                shared,
                engine=state.engine,
            )
        )
    except Exception as exc:  # a sweep must not turn the run's summary into an INTERNALERROR
        why = str(exc) if isinstance(exc, PyodoError) else summary(exc)
        state.sweep_log.append(f"sweep failed: {why} (`doit gc` deletes it after its expiry)")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    state = terminalreporter.config.stash.get(STATE_KEY, None)
    if state is None:
        return
    reports = list(state.worker_reports)
    if state.run is not None:
        reports.append(state.run.summary())
    lines = summary_lines(reports, state.sweep_log)
    if lines:
        terminalreporter.write_sep("-", "pyodo")
        for line in lines:
            terminalreporter.write_line(line)
