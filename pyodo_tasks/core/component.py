"""A component deployed to one target: the push workflow's steps, each usable on its own.

The doit tasks (``pyodo_tasks.tasks``), the pytest plugin and ``doit dev`` all drive a
:class:`Component`. Each step knows whether it has anything to do, so a push with nothing changed
reads the cluster but writes nothing and builds nothing:

1. :meth:`apply` — server-side apply of the rendered objects, only when the spec hash differs
   from the one on the live Deployment;
2. :meth:`wait_ready` — the rollout is complete and the app container runs (bounded, ends early
   on image, config and crash failures, naming the fix);
3. :meth:`sync` — index the tree, send created/modified/renamed files as one tar stream through
   exec and delete removed ones in one call; the index is committed only after the copy
   succeeded, and it is kept per container instance, so a new pod or a restarted container
   gets everything;
4. :meth:`build` — ``assemble-and-restart`` in the container, its output streamed live; a
   non-zero exit fails the push and the supervisor keeps the previous app running.

:class:`Component` is a façade: each concern is a collaborator of its own, and its methods
delegate to them (see the class docstring).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyodo_tasks.core import podstate
from pyodo_tasks.core.commands import Output, quiet
from pyodo_tasks.core.connection import Connection
from pyodo_tasks.core.delivery import AgentPool, Delivery, deliver, index_by_stat
from pyodo_tasks.core.devfile import Endpoint, ImageOverrides, load_devfile
from pyodo_tasks.core.devfile.loader import chosen_commands
from pyodo_tasks.core.index import Changes, FileIndex, Snapshot
from pyodo_tasks.core.kube.app_exec import AppExec
from pyodo_tasks.core.kube.target import ResolvedTarget, Target
from pyodo_tasks.core.pods import Pods
from pyodo_tasks.core.render import RenderContext, check_commands_decided
from pyodo_tasks.core.results import PushResult, SyncResult
from pyodo_tasks.core.running import Running
from pyodo_tasks.core.spec import Spec
from pyodo_tasks.core.steps import Steps
from pyodo_tasks.core.teardown import delete_labelled_component, state_key
from pyodo_tasks.core.workspace import Workspace

if TYPE_CHECKING:
    from kubernetes import client as k8s

    from pyodo_tasks.core.agent import Pipe
    from pyodo_tasks.core.kube import ExecResult, Kube, PortForwarder

__all__ = ["Component", "PushResult", "SyncResult"]

#: Kept here for callers that imported it from this module; the rules live in ``podstate``.
FATAL_WAITING = podstate.FATAL_WAITING


def _resolved(
    target: Target | ResolvedTarget | None, kube: Kube | None, environ: Mapping[str, str]
) -> ResolvedTarget:
    """The client's target when one is handed in, else ``target`` (default: the environment's)."""
    if kube is not None:
        return kube.target
    if isinstance(target, ResolvedTarget):
        return target
    return (target or Target.from_env(environ)).resolve()


class Component(AppExec):
    """A component directory bound to a cluster target.

    ``labels`` are added to every object (run id, expiry); ``state_dir`` holds the file index
    (default ``<component>/.pyodo``), kept per target so pushes to two clusters don't share it.
    The concerns are collaborators, each in its module: the cluster client made on first use
    (:mod:`.connection`), rendering, the apply and the layout (:mod:`.spec`), finding and
    awaiting the pod (:mod:`.pods`), the index and the state file (:mod:`.workspace`), the
    devfile's steps in the pod (:mod:`.steps`), sync and build (:mod:`.delivery`), using the
    running app (:mod:`.running`); the pod-state rules are :mod:`.podstate`'s.
    """

    def __init__(
        self,
        path: Path | str,
        target: Target | ResolvedTarget | None = None,
        *,
        image_overrides: ImageOverrides | None = None,
        labels: Mapping[str, str] | None = None,
        render_options: Mapping[str, Any] | None = None,
        state_dir: Path | None = None,
        kube: Kube | None = None,
        environ: Mapping[str, str] | None = None,
        exclude: Iterable[Path] = (),
    ) -> None:
        self.environ = os.environ if environ is None else environ
        #: Files never synced (see :class:`FileIndex`): ``doit dev``'s own log, say.
        self.exclude = tuple(exclude)
        options = dict(render_options or {})
        chosen = chosen_commands(options, self.environ)
        self.devfile = load_devfile(path, image_overrides=image_overrides, environ=self.environ)
        if chosen:
            self.devfile = self.devfile.with_commands(chosen)
        self.root = self.devfile.root
        #: Where it is deployed, resolved now; the client itself is made on first use.
        self.target = _resolved(target, kube, self.environ)
        self.connection = Connection(self.target, kube)
        self.namespace = self.target.namespace
        self.name = self.devfile.name
        self.state_dir = state_dir or self.root / ".pyodo"
        self.key = state_key(self.target.context, self.namespace, self.name)
        app = self.devfile.app_container.name
        self.workspace = Workspace(
            self.root, self.state_dir, self.key, app, self.exclude, index_by_stat(self.environ)
        )
        self.state = self.workspace.state
        self.spec = Spec(self.devfile, self.connection, self.state, self.environ, labels, options)
        self.layout_setting = self.spec.layout_setting
        self.pods = Pods(self.spec, self.connection)
        self.steps = Steps(self.spec, self.pods, self.workspace, self.connection)
        self.running = Running(self.devfile, self.pods, self.steps, self.connection)
        self._agents = AgentPool()

    @property
    def kube(self) -> Kube:
        """The cluster boundary, made on first use (:mod:`.connection`)."""
        return self.connection.kube

    def open_pipe(
        self, pod: str, argv: list[str], *, container: str, namespace: str | None = None
    ) -> Pipe:
        """The agent's stream, without the client when it can (:meth:`Connection.open_pipe`)."""
        return self.connection.open_pipe(pod, argv, container=container, namespace=namespace)

    @property
    def context(self) -> RenderContext:
        """What shapes the objects besides the devfile, the layout decided (:meth:`layout`)."""
        return self.spec.context

    def layout(self) -> str:
        """How the runtime reaches the pod (:meth:`Spec.layout`)."""
        return self.spec.layout()

    def render(self) -> list[dict[str, Any]]:
        """The objects a push applies (refused as the push is: :func:`check_commands_decided`)."""
        check_commands_decided(self.devfile, self.spec.context)
        return self.spec.render()

    def spec_hash(self) -> str:
        """The hash :func:`render` stamps on every object (run labels excluded)."""
        return self.spec.spec_hash()

    def live_spec_hash(self) -> str | None:
        """The spec hash on the live Deployment, or None when it does not exist."""
        return self.spec.live_spec_hash()

    def resources_uptodate(self) -> bool:
        """True when the live objects were applied from this exact spec (one read, no write)."""
        return self.spec.resources_uptodate()

    def apply(self, force: bool = False) -> tuple[str, ...]:
        """Apply the rendered objects if the spec changed; returns ``Kind/name`` applied."""
        return self.spec.apply(force)

    @property
    def selector(self) -> str:
        return self.pods.selector

    def pod(self) -> k8s.V1Pod:
        """The component's running pod (not one being deleted)."""
        return self.pods.pod()

    def current_pod(self) -> k8s.V1Pod | None:
        """The running pod of this spec with the rollout finished, from ONE pod list; None when
        that cannot be told so cheaply (then :meth:`apply` and :meth:`wait_ready`)."""
        return self.pods.current_pod()

    def pod_name(self) -> str:
        return self.pods.pod_name()

    def wait_ready(self, timeout: float = 300.0, poll: float = 0.5) -> k8s.V1Pod:
        """Wait until the rollout is complete and the app container runs; return the pod."""
        return self.pods.wait_ready(timeout, poll)

    def container_instance(self, pod: k8s.V1Pod) -> str:
        """The app container's current instance (see :func:`.podstate.container_instance`)."""
        return self.workspace.container_instance(pod)

    def index(self) -> FileIndex:
        return self.workspace.index()

    def pending(self, pod: k8s.V1Pod | None = None) -> tuple[Changes, Snapshot, k8s.V1Pod]:
        """What a sync would send now, against the index kept for the current container."""
        return self.workspace.pending(pod or self.pod())

    def sync_digest(self, pod: k8s.V1Pod | None = None) -> str:
        """A digest of (tree, container): equal digests mean a sync would send nothing."""
        return self.workspace.sync_digest(pod or self.pod())

    def build_uptodate(self, digest: str) -> bool:
        return self.workspace.build_uptodate(digest)

    def mark_built(self, digest: str) -> None:
        self.workspace.mark_built(digest)

    def sync(self, output: Output | None = None, pod: k8s.V1Pod | None = None) -> SyncResult:
        """Copy what changed into the app container; commit the index only on success."""
        return self.deliver(output, pod=pod, build=False).sync

    def deliver(
        self,
        output: Output | None = None,
        *,
        pod: k8s.V1Pod | None = None,
        build: bool | Callable[[SyncResult], bool] | None = None,
        on_synced: Callable[[SyncResult], None] | None = None,
        on_serving: Callable[[float], None] | None = None,
        timeout: float = 900.0,
    ) -> Delivery:
        """Sync what changed and build-and-restart, in ONE exchange with the container's agent
        when it has one, else one exec per step; ``build`` etc.: :func:`.delivery.deliver`.
        One process at a time per component and target (:meth:`.Workspace.syncing`)."""
        pod = pod or self.pod()
        with self.workspace.syncing():
            return deliver(self, self._agents, pod, build, output, on_synced, on_serving, timeout)

    def ensure_runtime(self, pod: k8s.V1Pod, output: Output | None = None) -> None:
        """In the inject layout, put this pyodo's runtime into the app container once."""
        self.steps.ensure_runtime(pod, output)

    def post_start(self, output: Output | None = None, timeout: float = 600.0) -> bool:
        """Run ``events.postStart`` once per app container instance; True when they ran."""
        return self.steps.post_start(output, timeout)

    def post_start_due(self, instance: str) -> bool:
        """True when ``events.postStart`` has not run yet in this container instance."""
        return self.steps.post_start_due(instance)

    def build(
        self, output: Output | None = None, timeout: float = 900.0, pod: k8s.V1Pod | None = None
    ) -> ExecResult:
        """postStart if due, then ``assemble-and-restart`` in the app container (one exec)."""
        return self.steps.build(output, timeout, pod)

    def run_sidecar_steps(self, kind: str, pod: str, say: Output, timeout: float) -> None:
        """Run the ``kind`` command's steps that belong to other containers than the app's."""
        self.steps.run_sidecar_steps(kind, pod, say, timeout)

    def push(self, output: Output | None = None, timeout: float = 300.0) -> PushResult:
        """The whole push: apply if changed, wait, sync what changed, build if anything moved."""
        say = output or quiet
        applied = self.apply()
        if applied:
            say(f"Applied {', '.join(applied)}")
        pod = self.wait_ready(timeout=timeout)
        delivery = self.deliver(say, pod=pod)
        return PushResult(applied, delivery.sync, delivery.built)

    def _exec(self, args: Sequence[str], **options: Any) -> ExecResult:
        return self.running.exec(args, **options)

    def logs(self, tail_lines: int | None = 200, container: str | None = None) -> str:
        return self.running.logs(tail_lines, container)

    def restart(self) -> None:
        """Restart the app through the supervisor (the pod stays)."""
        self.running.restart()

    def endpoint_spec(self, name: str | None = None) -> Endpoint:
        return self.running.endpoint_spec(name)

    def service_url(self, name: str | None = None) -> str:
        """The in-cluster address of an endpoint, through the component's Service."""
        return self.running.service_url(name)

    def forward(self, name: str | None = None, local_port: int = 0) -> PortForwarder:
        """A local port forwarded to an endpoint (started, reused while this object lives)."""
        return self.running.forward(name, local_port)

    def forward_port(self, target_port: int, local_port: int = 0) -> PortForwarder:
        """A local port forwarded to any port of the pod (a debugger's ``DEBUG_PORT``)."""
        return self.running.forward_port(target_port, local_port)

    def endpoint(self, name: str | None = None, timeout: float = 120.0) -> str:
        """A URL reachable from this process, returned only once the app answers."""
        return self.running.endpoint(name, timeout)

    def debug_report(self, tail_lines: int = 50) -> str:
        """Pod status, recent events and the log tail: what a failing test needs to show."""
        return self.running.debug_report(tail_lines)

    def delete(self, timeout: float = 120.0) -> list[str]:
        """Delete every object of this component and wait until they are gone."""
        self.stop_forwards()
        self.pre_stop()
        owned = self.spec.owned_objects()
        gone = delete_labelled_component(self.kube, self.name, timeout, owned)
        self.workspace.forget()
        return gone

    def pre_stop(self, timeout: float = 60.0) -> None:
        """Run ``events.preStop`` in the running pod; a failing step never blocks the delete."""
        self.steps.pre_stop(timeout)

    def stop_forwards(self) -> None:
        """Stop the port-forwards this object started (the connection stays open)."""
        self.running.stop_forwards()

    def close(self) -> None:
        """Stop port-forwards and the agent; close the cluster connection if we opened it."""
        self.stop_forwards()
        self._agents.close()
        self.connection.close()

    def __enter__(self) -> Component:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
