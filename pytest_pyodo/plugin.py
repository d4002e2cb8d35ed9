"""pytest hooks, options and fixtures for pyodo (thin: the logic lives in :mod:`.session`).

Registered through the ``pytest11`` entry point ``pyodo`` (disable with ``-p no:pyodo``). The
plugin does nothing with a cluster until a test asks for a pyodo fixture. See ``docs/pytest.md``.
"""

from __future__ import annotations

import importlib
import json
import logging
import shutil
import tempfile
import threading
import uuid
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pyodo_tasks.errors import PyodoError
from pyodo_tasks.failures import summary

from . import newhooks
from .debugging import add_debug_option, relay_worker_attach
from .fixtures import (
    MARKER,
    marker_overrides,
    marker_shared,
    pyodo_cluster,
    pyodo_component,
    pyodo_component_path,
    pyodo_config,
    pyodo_deploy,
    pyodo_endpoint,
    pyodo_image_overrides,
    pyodo_session,
)
from .handoff import Handoff, start_early_deploy
from .liveness import process_identity
from .options import add_options, read_settings
from .report import debug_section, header_lines, summary_lines
from .state import STATE_KEY, USED_KEY, PluginState

if TYPE_CHECKING:
    from .session import PyodoRun

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
    add_debug_option(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(newhooks)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "pyodo_component(path, *, image_overrides=None): the component (directory with a "
        "devfile.yaml, relative to the rootdir) that pyodo_component and pyodo_endpoint deploy "
        "for this test, class or module",
    )
    # xdist workers get the controller's run id (see pytest_configure_node) and their own name;
    # the controller checked the components' devfiles already (a bad one stops it first).
    workerinput = getattr(config, "workerinput", None)
    settings = read_settings(config, check_devfiles=workerinput is None)
    # Push and build output is logged at INFO; let it reach pytest's log capture (and
    # --log-cli-level) unless the user configured this logger themselves.
    pyodo_log = logging.getLogger("pytest_pyodo")
    if pyodo_log.level == logging.NOTSET:
        pyodo_log.setLevel(logging.INFO)
    if workerinput is not None:
        run_id = workerinput.get("pyodo_run_id") or workerinput["testrunuid"][:8]
        state = PluginState(settings, run_id, workerinput["workerid"], distributed=True)
        run_dir = workerinput.get("pyodo_run_dir")
        state.run_dir = Path(run_dir) if run_dir else _run_dir(run_id)
        state.holder = workerinput.get("pyodo_holder")
    else:
        state = PluginState(settings, uuid.uuid4().hex[:8])
        state.holder = process_identity()
        relay_worker_attach(config)
    config.stash[STATE_KEY] = state


#: A worker's note, in the run's directory, that its tests use the default component.
PLAN_FILE = "uses-default"


def _run_dir(run_id: str) -> Path:
    """Where the workers of one run coordinate (same host: xdist's workers are local)."""
    return Path(tempfile.gettempdir()) / f"pyodo-run-{run_id}"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """xdist controller, as the first worker reports its collection (before any test is
    scheduled): if its tests use the default component, start deploying it now, in a thread,
    while the other workers still start and collect; they all attach to it (:mod:`.handoff`)."""
    state = node.config.stash[STATE_KEY]
    if state.early_decided or state.run_dir is None or not state.settings.components:
        return
    state.early_decided = True  # the workers collect the same tests: the first one decides
    worker = node.workerinput["workerid"]
    if not (state.run_dir / f"{PLAN_FILE}-{worker}").is_file():
        return
    run_dir = state.run_dir
    Handoff(run_dir).announce()

    def early_run() -> PyodoRun:
        from .session import PyodoRun  # in the thread: the controller goes on scheduling

        state.run = PyodoRun(
            state.settings,
            run_id=state.run_id,
            worker="controller",
            distributed=True,
            state_dir=run_dir / "controller-state",
            engine=state.engine,
            run_dir=run_dir,
            holder=state.holder,
            hand_over=True,
        )
        return state.run

    from .deployed import BUILD_BOUND  # not at the top: it imports the engine's component

    bound = state.settings.timeout + BUILD_BOUND
    state.early = start_early_deploy(run_dir, early_run, state.settings.components[0], bound)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: hand every worker the run id (one id, one label, for the whole run),
    the run's directory, and the controller's identity (it deletes what the run shared)."""
    state = node.config.stash[STATE_KEY]
    state.run_dir = state.run_dir or _run_dir(state.run_id)
    node.workerinput["pyodo_run_id"] = state.run_id
    node.workerinput["pyodo_run_dir"] = str(state.run_dir)
    node.workerinput["pyodo_holder"] = state.holder


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """xdist controller: keep what the worker deployed and cleaned up, for the sweep/summary."""
    report = (getattr(node, "workeroutput", None) or {}).get("pyodo")
    if report:
        node.config.stash[STATE_KEY].worker_reports.append(report)


@pytest.hookimpl(trylast=True)  # after ``-k``/``-m`` deselected theirs
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Note which components the collected tests need, so the first deploy of the session
    deploys them all at once (see ``pyodo_deploy``). Under xdist only the shared ones: a
    worker's own copies are deployed when one of its tests asks; and a worker whose tests use
    the default component says so in the run's directory, for the controller's early deploy."""
    state = config.stash[STATE_KEY]
    plan: dict[str, tuple[Path, dict[str, str], bool]] = {}
    uses_pyodo = False
    for item in items:
        names = getattr(item, "fixturenames", ())
        uses_pyodo = uses_pyodo or any(name.startswith("pyodo_") for name in names)
        if "pyodo_component" not in names:
            continue
        marker = item.get_closest_marker(MARKER)
        if marker is not None and len(marker.args) == 1:
            path = (config.rootpath / Path(marker.args[0]).expanduser()).resolve()
        elif marker is None and state.settings.components:
            path = state.settings.components[0]
        else:
            continue
        shared = marker_shared(marker)
        if state.distributed and not shared:
            continue
        overrides = marker_overrides(marker)
        key = json.dumps([str(path), overrides, shared], sort_keys=True)
        if path.is_dir():
            plan.setdefault(key, (path, overrides, shared))
    state.plan = list(plan.values())
    if state.distributed and state.run_dir is not None and state.settings.components:
        default: tuple[Path, dict[str, str], bool] = (state.settings.components[0], {}, True)
        if default in state.plan:  # the controller deploys it early (see its hook above)
            state.run_dir.mkdir(parents=True, exist_ok=True)
            (state.run_dir / f"{PLAN_FILE}-{state.worker}").touch()
    if uses_pyodo and state.distributed:
        _prewarm()


def _prewarm() -> None:
    """Import the session module (and the Kubernetes client) in a background thread.

    An xdist worker that has collected waits for the controller, which waits for the slowest
    worker's collection before scheduling: the import (about half a second of CPU) then runs
    in time the worker would idle away, instead of after its first test was scheduled.
    """
    threading.Thread(
        target=importlib.import_module, args=(f"{__package__}.session",), daemon=True
    ).start()


def pytest_report_header(config: pytest.Config) -> list[str]:
    if hasattr(config, "workerinput"):
        return []  # an xdist worker's header is never shown: the controller prints it
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
    if state.early is not None:
        state.early.join(state.settings.timeout)  # the early deploy ends before its cleanup
    if state.run is not None:
        state.run.cleanup()
        workeroutput = getattr(config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput["pyodo"] = state.run.summary()
    distributed_controller = state.run_dir is not None and not state.distributed
    if distributed_controller and not (state.settings.keep or state.settings.reuse):
        _sweep(state)
    if distributed_controller and state.run_dir is not None:
        shutil.rmtree(state.run_dir, ignore_errors=True)


def _coordinates(state: PluginState) -> list[dict[str, Any]]:
    """Where the workers deployed: their reports, and the files they left in the run's
    directory on connecting (a crashed worker sends no report)."""
    used = [r for r in state.worker_reports if r.get("kubeconfig")]
    if state.run_dir is not None:
        for path in sorted(state.run_dir.glob("cluster-*.json")):
            try:
                used.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
    return used


def _sweep(state: PluginState) -> None:
    """xdist controller: delete what is still labelled with the run id once workers are done:
    the run's shared namespace, a crashed worker's namespace, the objects in a named one."""
    used = _coordinates(state)
    if not used:
        return
    shared = list(dict.fromkeys(r["namespace"] for r in used if r.get("shared_namespace")))
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
                wait=state.settings.teardown == "wait",
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
