"""pyodo's fixtures, layered like pytest-httpserver's: session → per-test accessors → config.

========================  =========  ==========================================================
fixture                   scope      what it gives
========================  =========  ==========================================================
``pyodo_config``          session    :class:`~pytest_pyodo.settings.Settings` (override it)
``pyodo_session``         session    :class:`~pytest_pyodo.session.PyodoRun`: deploy cache,
                                     cleanup
``pyodo_cluster``         session    :class:`~pytest_pyodo.session.PyodoCluster`: kubeconfig,
                                     context, namespace
``pyodo_component_path``  function   the component directory (marker > first configured)
``pyodo_image_overrides``  function  ``{container: image}`` (marker's ``image_overrides``)
``pyodo_deploy``          function   factory ``(path, *, image_overrides, render_options,
                                     shared)``
``pyodo_component``       function   :class:`~pytest_pyodo.session.DeployedComponent`
``pyodo_endpoint``        function   ``str`` URL, once the app answers
========================  =========  ==========================================================

Deployments are cached by the session (one per path and overrides), so the function scope
only decides which component a test gets, not how often it is deployed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from pyodo_tasks.errors import ConfigError, PyodoError
from pyodo_tasks.failures import debug_requested, summary

from .debugging import announce_debugger, debug_render_options
from .settings import Settings, check_component
from .state import STATE_KEY, USED_KEY

if TYPE_CHECKING:
    from .session import DeployedComponent, PyodoCluster, PyodoRun

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

MARKER = "pyodo_component"

Deploy = Callable[..., "DeployedComponent"]


def _fail(message: str) -> NoReturn:
    """Fail with pyodo's one-line message: its errors already say what to do, a trace would not.

    Called outside ``except`` blocks, so the report is not "During handling of the above
    exception…" followed by the same message twice.
    """
    line = message if message.startswith("pyodo bug:") else f"pyodo: {message}"
    pytest.fail(line, pytrace=False)


def _bug(exc: Exception, config: pytest.Config) -> str:
    """An unexpected error's one line (:mod:`pyodo_tasks.failures`), or, under
    ``PYODO_DEBUG=1`` or ``--verbose``, the error itself re-raised for its traceback."""
    if debug_requested(config.get_verbosity() > 0):
        raise exc
    return summary(exc, switches="PYODO_DEBUG=1 or --verbose")


def _resolve(config: pytest.Config, path: Path | str) -> Path:
    """Marker and factory paths are relative to the rootdir, like the ini file's paths."""
    candidate = Path(path).expanduser()
    return (candidate if candidate.is_absolute() else config.rootpath / candidate).resolve()


@pytest.fixture(scope="session")
def pyodo_config(pytestconfig: pytest.Config) -> Settings:
    """The session's settings, decided from options, ini values and ``PYODO_*`` variables.

    Override it in a ``conftest.py`` to force a value above every other source::

        @pytest.fixture(scope="session")
        def pyodo_config(pyodo_config):
            return dataclasses.replace(pyodo_config, keep=True)
    """
    return pytestconfig.stash[STATE_KEY].settings


@pytest.fixture(scope="session")
def pyodo_session(
    pytestconfig: pytest.Config,
    pyodo_config: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PyodoRun]:
    """The run: boots or connects to the cluster on first use, caches deployments, cleans up.

    Use it for a deployment shared by a module- or session-scoped fixture of your own
    (``pyodo_session.deploy(path)``). Its teardown deletes the session's namespace (unless
    ``--pyodo-keep`` or ``--pyodo-reuse``).
    """
    # Imported here: the Kubernetes client costs every pytest start a second otherwise.
    from .session import PyodoRun

    state = pytestconfig.stash[STATE_KEY]

    def ready(component: DeployedComponent) -> None:
        pytestconfig.hook.pytest_pyodo_component_ready(component=component, config=pytestconfig)

    run = PyodoRun(
        pyodo_config,
        run_id=state.run_id,
        worker=state.worker,
        distributed=state.distributed,
        state_dir=tmp_path_factory.mktemp("pyodo-state"),
        on_ready=ready,
        engine=state.engine,
        run_dir=state.run_dir,
        holder=state.holder,
    )
    state.run = run
    yield run
    run.cleanup()


@pytest.fixture(scope="session")
def pyodo_cluster(pytestconfig: pytest.Config, pyodo_session: PyodoRun) -> PyodoCluster:
    """The cluster (booted once, shared by xdist workers) and this session's namespace."""
    try:
        return pyodo_session.cluster()
    except PyodoError as exc:
        error = str(exc)
    except Exception as exc:
        error = _bug(exc, pytestconfig)
    _fail(error)


@pytest.fixture
def pyodo_component_path(request: pytest.FixtureRequest, pyodo_config: Settings) -> Path:
    """The component the test gets: the closest ``pyodo_component`` marker's path (relative to
    the rootdir), else the first ``--pyodo-component``. Override it to choose another way."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        if len(marker.args) != 1:
            _fail(f'mark with one path: @pytest.mark.{MARKER}("path/to/component")')
        path = _resolve(request.config, marker.args[0])
        try:
            return check_component(path, f"@pytest.mark.{MARKER}", given=str(marker.args[0]))
        except ConfigError as exc:
            error = str(exc)
        _fail(error)
    if pyodo_config.components:
        return pyodo_config.components[0]
    _fail(
        "no component to deploy: pass --pyodo-component=PATH (or set pyodo_component in the ini "
        f'file), mark the test with @pytest.mark.{MARKER}("PATH"), or override the '
        "pyodo_component_path fixture"
    )


@pytest.fixture
def pyodo_image_overrides(request: pytest.FixtureRequest) -> dict[str, str]:
    """``{container name: image}`` for ``pyodo_component``: the marker's ``image_overrides``,
    else none (``PYODO_IMAGE_<CONTAINER>`` variables still apply). Override it to set them."""
    return marker_overrides(request.node.get_closest_marker(MARKER))


def marker_overrides(marker: pytest.Mark | None) -> dict[str, str]:
    overrides = marker.kwargs.get("image_overrides") if marker is not None else None
    return dict(overrides or {})


def marker_shared(marker: pytest.Mark | None) -> bool:
    """The marker's ``shared`` (default True: one deployment for every xdist worker)."""
    return bool(marker.kwargs.get("shared", True)) if marker is not None else True


def _record_properties(item: pytest.Item, handle: DeployedComponent) -> None:
    """JUnit XML ``<property>`` entries naming where the test's component ran."""
    cluster = handle.component.target  # not .kube.target: that would make the client
    found = {
        "pyodo.context": cluster.context,
        f"pyodo.{handle.name}.namespace": handle.namespace,
        f"pyodo.{handle.name}.pod": handle.pod or "",
        f"pyodo.{handle.name}.image": handle.image,
    }
    have = set(item.user_properties)
    item.user_properties.extend(kv for kv in found.items() if kv not in have)


def _deploy_planned(
    state: Any, session: PyodoRun, render_options: Mapping[str, Any] | None = None
) -> None:
    """On the first deploy of a session: deploy every component the collected tests need at
    once (threads), so a session needing several waits for the slowest, not for the sum."""
    if state.planned:
        return
    state.planned = True
    if len(state.plan) < 2:
        return
    from .session import DeployRequest

    requests = [
        DeployRequest(path, overrides, render_options, shared)
        for path, overrides, shared in state.plan
    ]
    session.deploy_all(requests)


@pytest.fixture
def pyodo_deploy(request: pytest.FixtureRequest, pyodo_session: PyodoRun) -> Deploy:
    """A factory for a test's own component: ``pyodo_deploy(path, *, image_overrides=None,
    render_options=None, shared=True)`` returns it deployed (once per session per path and
    overrides; under xdist once per run unless ``shared=False``)."""
    state = request.config.stash[STATE_KEY]

    def deploy(
        path: Path | str,
        *,
        image_overrides: Mapping[str, str] | None = None,
        render_options: Mapping[str, Any] | None = None,
        shared: bool = True,
    ) -> DeployedComponent:
        resolved = _resolve(request.config, path)
        options: dict[str, Any] = {
            "image_overrides": image_overrides,
            "render_options": debug_render_options(request.config, render_options),
            "shared": shared,
        }
        try:
            _deploy_planned(state, pyodo_session, debug_render_options(request.config, None))
            handle = pyodo_session.component(resolved, **options)
        except PyodoError as exc:
            error = str(exc)
        except Exception as exc:
            error = _bug(exc, request.config)
        else:
            used = request.node.stash.setdefault(USED_KEY, [])
            if handle not in used:
                used.append(handle)  # before the push, so a failed deploy's report shows the pod
            try:
                deployed = pyodo_session.deploy(resolved, **options)
                _record_properties(request.node, deployed)
                announce_debugger(request.config, request.node, deployed)
                return deployed
            except PyodoError as exc:
                error = f"deploying {resolved}: {exc}"
            except Exception as exc:
                error = _bug(exc, request.config)
        _fail(error)

    return deploy


@pytest.fixture
def pyodo_component(
    pyodo_deploy: Deploy,
    pyodo_component_path: Path,
    pyodo_image_overrides: dict[str, str],
    request: pytest.FixtureRequest,
) -> DeployedComponent:
    """The test's component, deployed, synced and verified (``.endpoint()``,
    ``.service_url()``, ``.exec()``, ``.logs()``, ``.sync()``, ``.verify()``, ``.restart()``).
    Shared by the xdist workers unless the marker says ``shared=False``."""
    shared = marker_shared(request.node.get_closest_marker(MARKER))
    return pyodo_deploy(pyodo_component_path, image_overrides=pyodo_image_overrides, shared=shared)


@pytest.fixture
def pyodo_endpoint(request: pytest.FixtureRequest, pyodo_component: DeployedComponent) -> str:
    """The URL of the component's first endpoint, reachable from the test process; returned
    only once the app answers."""
    try:
        return pyodo_component.endpoint()
    except PyodoError as exc:
        error = f"endpoint of {pyodo_component.name}: {exc}"
    except Exception as exc:
        error = _bug(exc, request.config)
    _fail(error)
