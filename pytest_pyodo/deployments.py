"""The components of one run: one handle per request, where it deploys and how it is shared.

Each :class:`DeployRequest` (path, image overrides, render options, sharing) gets one cached
:class:`~pytest_pyodo.deployed.DeployedComponent`. Its namespace, state directory and lock
follow from the run's connection (:mod:`.connection`): under xdist a shared component is
coordinated in the run's directory (the first worker deploys, the others attach, see
:mod:`.deployed`) and a ``shared=False`` one goes into the worker's own namespace; a named
namespace keeps the engine's state, so other sessions and ``doit push`` see it. Several
components are deployed at once, one thread each. A plain library (no pytest).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyodo_tasks.errors import ConfigError

from .connection import RunConnection
from .deployed import DeployedComponent

if TYPE_CHECKING:
    from pyodo_tasks.core.kube import Kube

__all__ = ["DeployRequest", "Deployments", "component_summary"]

log = logging.getLogger("pytest_pyodo")

#: Components deployed at once when a session needs several (threads: the work is waiting).
DEPLOY_THREADS = 4


@dataclass(frozen=True)
class DeployRequest:
    """One component a session needs: what :meth:`PyodoRun.deploy` takes, as a value."""

    path: Path
    image_overrides: Mapping[str, str] | None = None
    render_options: Mapping[str, Any] | None = None
    shared: bool = True

    def key(self) -> str:
        return json.dumps(
            [
                str(Path(self.path).resolve()),
                dict(self.image_overrides or {}),
                dict(self.render_options or {}),
                self.shared,
            ],
            sort_keys=True,
            default=str,
        )


class Deployments:
    """The run's component handles, cached by request, and their cluster connections.

    ``state_dir`` keeps the file indexes of this process's own deployments; ``on_ready`` is
    called (one at a time) when a component's first push finished.
    """

    def __init__(
        self,
        connection: RunConnection,
        *,
        state_dir: Path,
        on_ready: Callable[[DeployedComponent], None] | None = None,
    ) -> None:
        self.connection = connection
        self.state_dir = state_dir
        self.on_ready = on_ready
        self._components: dict[str, DeployedComponent] = {}
        self._kubes: list[Kube] = []
        self._ready_lock = threading.Lock()

    def component(self, request: DeployRequest) -> DeployedComponent:
        """The (cached) handle of ``request``'s component, not yet pushed."""
        handle = self._components.get(request.key())
        if handle is None:
            handle = self._new_handle(request)
            self._components[request.key()] = handle
        return handle

    def _new_handle(self, request: DeployRequest) -> DeployedComponent:
        conn = self.connection
        settings = conn.settings
        cluster = conn.connect()
        own = conn.distributed and not request.shared
        if own and not conn.run_namespace:
            raise ConfigError(
                f"{request.path}: shared=False needs a namespace per xdist worker, but this run "
                f"deploys into {cluster.namespace} (--pyodo-namespace, --pyodo-reuse or no "
                "right to create namespaces): drop shared=False or run without xdist"
            )
        namespace = conn.own_copy_namespace(cluster) if own else cluster.namespace
        target = replace(cluster.target(), namespace=namespace)
        # One connection per component (deploys may run in threads), made on first use.
        kube = conn.engine.component_kube(target)
        if kube is not None:
            self._kubes.append(kube)
        in_run_dir = conn.run_dir is not None and conn.distributed and not own
        explicit = cluster.shared_namespace and not conn.run_namespace and not own
        if in_run_dir:
            state_dir: Path | None = conn.run_dir / "state"  # type: ignore[operator]
        else:
            # Named namespaces keep the engine's state (other sessions and `doit push` read it);
            # an ephemeral namespace's state dies with the session.
            state_dir = None if explicit else self.state_dir
        component = conn.engine.component(
            request.path,
            target=target,
            kube=kube,
            image_overrides=request.image_overrides,
            labels=conn.labels(),
            render_options=request.render_options,
            state_dir=state_dir,
            environ=settings.component_environ(conn.environ),
        )
        lock = None
        if in_run_dir:
            lock = conn.run_dir / f"deploy-{component.key}.lock"  # type: ignore[operator]
        elif explicit:
            lock = component.state_dir / f"push-{component.key}.lock"
        return DeployedComponent(
            component,
            request.path,
            timeout=settings.timeout,
            lock=lock,
            force_apply=explicit and not settings.reuse,
            coordination=conn.run_dir if in_run_dir else None,
            verifier=conn.engine.verify,
            shared=not own,
            on_ready=self._ready if self.on_ready is not None else None,
        )

    def _ready(self, handle: DeployedComponent) -> None:
        if self.on_ready is not None:
            with self._ready_lock:  # user hooks need not be thread-safe
                self.on_ready(handle)

    def deploy_all(self, requests: Sequence[DeployRequest]) -> list[DeployedComponent]:
        """Deploy several components at once, one thread each (their deploys are independent).

        Never raises for a failed deploy: the handle remembers the reason and the test asking
        for it fails with it. Returns the handles, deployed or failed.
        """
        handles = [
            self.component(
                DeployRequest(Path(r.path).resolve(), r.image_overrides, r.render_options, r.shared)
            )
            for r in dict((r.key(), r) for r in requests).values()
        ]
        pending = [h for h in handles if not h.deployed and h.error is None]
        if len(pending) == 1:
            _deploy_quietly(pending[0])
        elif pending:
            with ThreadPoolExecutor(min(len(pending), DEPLOY_THREADS), "pyodo-deploy") as pool:
                list(pool.map(_deploy_quietly, pending))
        return handles

    @property
    def handles(self) -> list[DeployedComponent]:
        return list(self._components.values())

    def close(self) -> None:
        """Stop the handles' port-forwards and close their connections."""
        for handle in self._components.values():
            handle.close()
        for kube in self._kubes:
            kube.close()


def component_summary(handle: DeployedComponent) -> dict[str, Any]:
    """What the summary, the header's end and the JUnit properties say about one component."""
    verified = handle.verified
    return {
        "name": handle.name,
        "namespace": handle.namespace,
        "path": str(handle.path),
        "image": handle.image,
        "pod": handle.pod,
        "shared": handle.shared,
        "attached": handle.attached,
        "push_seconds": handle.push_seconds,
        "verified": verified.summary() if verified is not None else None,
        "error": str(handle.error) if handle.error else None,
    }


def _deploy_quietly(handle: DeployedComponent) -> None:
    try:
        handle.ensure_deployed()
    except Exception as exc:  # remembered by the handle; the test asking for it reports it
        log.info("[%s] deploy failed: %s", handle.name, exc)
