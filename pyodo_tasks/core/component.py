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
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyodo_tasks.core import podstate
from pyodo_tasks.core.commands import Output, quiet, run_streamed
from pyodo_tasks.core.delivery import AgentPool, Delivery, deliver_with_agent
from pyodo_tasks.core.devfile import Devfile, Endpoint, ImageOverrides, load_devfile
from pyodo_tasks.core.endpoints import pick_endpoint, scheme, wait_answering
from pyodo_tasks.core.endpoints import service_url as _service_url
from pyodo_tasks.core.index import Changes, FileIndex, Snapshot
from pyodo_tasks.core.inject import LAYOUT_AUTO, ensure_runtime, layout_settings
from pyodo_tasks.core.kube.quick import quick_pipe, quick_pods
from pyodo_tasks.core.kube.target import ResolvedTarget, Target
from pyodo_tasks.core.render import (
    KUBERNETES_COMPONENT_LABEL,
    SPEC_HASH_ANNOTATION,
    RenderContext,
    component_selector,
    render,
)
from pyodo_tasks.core.report import debug_report
from pyodo_tasks.core.statefile import StateFile
from pyodo_tasks.core.sync import SyncTarget, send_changes
from pyodo_tasks.core.teardown import delete_labelled_component, state_key
from pyodo_tasks.core.wait import wait_for
from pyodo_tasks.errors import ClusterError, PyodoError, WaitTimeout
from pyodo_tasks.runtime import contract
from pyodo_tasks.runtime.sources import runtime_digest

if TYPE_CHECKING:
    from kubernetes import client as k8s

    from pyodo_tasks.core.agent import Pipe
    from pyodo_tasks.core.kube import ExecResult, Kube, PortForwarder

__all__ = ["Component", "PushResult", "SyncResult"]

log = logging.getLogger(__name__)

#: Kept here for callers that imported it from this module; the rules live in ``podstate``.
FATAL_WAITING = podstate.FATAL_WAITING


@dataclass(frozen=True)
class SyncResult:
    """What a sync sent. ``changes`` is empty when nothing had to move."""

    changes: Changes
    pod: str
    digest: str
    bytes_sent: int = 0


@dataclass(frozen=True)
class PushResult:
    applied: tuple[str, ...]
    sync: SyncResult
    built: bool
    pod: str


def _resolved(target: Target | ResolvedTarget | None, environ: Mapping[str, str]) -> ResolvedTarget:
    if isinstance(target, ResolvedTarget):
        return target
    return (target or Target.from_env(environ)).resolve()


class Component:
    """A component directory bound to a cluster target.

    ``labels`` are added to every object (run id, expiry); ``state_dir`` holds the file index
    (default ``<component>/.pyodo``), kept per target so pushes to two clusters don't share it.
    The concerns live in their own modules: pod-state rules in :mod:`.podstate`, the state file
    in :mod:`.statefile`, the file transfer in :mod:`.sync`, streamed commands in
    :mod:`.commands`, endpoints in :mod:`.endpoints`, the debug report in :mod:`.report`.
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
        self.devfile: Devfile = load_devfile(
            path, image_overrides=image_overrides, environ=self.environ
        )
        self.root = self.devfile.root
        self._owns_kube = kube is None
        self._kube = kube
        #: Where it is deployed, resolved now; the client itself is made on first use.
        self.target: ResolvedTarget = (
            kube.target if kube is not None else _resolved(target, self.environ)
        )
        self.namespace = self.target.namespace
        self.name = self.devfile.name
        options = dict(render_options or {})
        self.layout_setting, init_image = layout_settings(options, self.environ)
        self._base_context = RenderContext(
            namespace=self.namespace,
            labels=dict(labels or {}),
            init_image=init_image or contract.INIT_REF,
            runtime=runtime_digest(),
            **options,
        )
        self._init_image_given = init_image is not None
        self._context: RenderContext | None = None
        self.state_dir = state_dir or self.root / ".pyodo"
        self.key = state_key(self.target.context, self.namespace, self.name)
        self.state = StateFile(self.state_dir / f"state-{self.key}.json")
        self._forwards: dict[str, PortForwarder] = {}
        self._agents = AgentPool()

    @property
    def kube(self) -> Kube:
        """The cluster boundary, made on first use: importing its client costs about 1.2 s, and
        a push with nothing to do needs only :meth:`current_pod`'s one list."""
        if self._kube is None:
            from pyodo_tasks.core.kube.client import Kube

            self._kube = Kube(self.target)
        return self._kube

    def open_pipe(
        self, pod: str, argv: list[str], *, container: str, namespace: str | None = None
    ) -> Pipe:
        """The agent's stream (:meth:`Kube.open_pipe`); while the client is not loaded (a
        one-shot ``doit push``) opened without it when the kubeconfig allows it
        (:mod:`.kube.quick`)."""
        if self._kube is None and namespace in (None, self.namespace):
            pipe = quick_pipe(self.target, pod, argv, container=container)
            if pipe is not None:
                return pipe
        return self.kube.open_pipe(pod, argv, container=container, namespace=namespace)

    # -- rendering and apply ---------------------------------------------------------------
    @property
    def context(self) -> RenderContext:
        """What shapes the objects besides the devfile, the layout decided (:meth:`layout`)."""
        if self._context is None:
            self._context = dataclasses.replace(self._base_context, layout=self.layout())
        return self._context

    def layout(self) -> str:
        """How the runtime reaches the pod: the setting, or for ``auto`` the init containers
        where every schedulable node has the init image (pyodo's own clusters) and an explicit
        init image, else ``inject``. ``auto``'s answer is kept in the state file, so a push
        with nothing to do asks no node; a new target decides again."""
        if self.layout_setting != LAYOUT_AUTO:
            return self.layout_setting
        if self._init_image_given:
            return contract.LAYOUT_INIT
        remembered = self.state.get("layout")
        if remembered in contract.LAYOUTS:
            return str(remembered)
        nodes = self.kube.node_images()
        image = self._base_context.init_image
        has_it = bool(nodes) and all(image in names for names in nodes or [])
        chosen = contract.LAYOUT_INIT if has_it else contract.LAYOUT_INJECT
        self.state.update(layout=chosen)
        return chosen

    def render(self) -> list[dict[str, Any]]:
        return render(self.devfile, self.context)

    def spec_hash(self) -> str:
        """The hash :func:`render` stamps on every object (run labels excluded)."""
        return str(self.render()[-1]["metadata"]["annotations"][SPEC_HASH_ANNOTATION])

    def live_spec_hash(self) -> str | None:
        """The spec hash on the live Deployment, or None when it does not exist."""
        deployment = self.kube.get("Deployment", self.name)
        if deployment is None:
            return None
        return (deployment["metadata"].get("annotations") or {}).get(SPEC_HASH_ANNOTATION)

    def resources_uptodate(self) -> bool:
        """True when the live objects were applied from this exact spec (one read, no write)."""
        return self.live_spec_hash() == self.spec_hash()

    def apply(self, force: bool = False) -> tuple[str, ...]:
        """Apply the rendered objects if the spec changed; returns ``Kind/name`` applied."""
        if not force and self.resources_uptodate():
            return ()
        applied = []
        for obj in self.render():
            self.kube.apply(obj)
            applied.append(f"{obj['kind']}/{obj['metadata']['name']}")
        # So that `doit delete` finds the objects even once the devfile no longer loads.
        self.state.update(name=self.name)
        return tuple(applied)

    # -- pods ------------------------------------------------------------------------------
    @property
    def selector(self) -> str:
        return ",".join(f"{k}={v}" for k, v in component_selector(self.name).items())

    def pod(self) -> k8s.V1Pod:
        """The component's running pod (not one being deleted)."""
        pod = podstate.newest_running(self.kube.pods(self.selector))
        if pod is None:
            raise ClusterError(
                f"component {self.name} has no running pod in {self.namespace}: push it first"
            )
        return pod

    def current_pod(self) -> k8s.V1Pod | None:
        """The running pod of exactly this spec with the rollout finished, from ONE pod list;
        None when that cannot be told so cheaply (then :meth:`apply` and :meth:`wait_ready`).

        Before the client is loaded the list is made without it (:mod:`.kube.quick`), falling
        back to the client when that cannot answer."""
        pods = quick_pods(self.target, self.selector) if self._kube is None else None
        if pods is None:
            pods = self.kube.pods(self.selector)
        return podstate.current_pod(pods, self.spec_hash(), self.devfile.app_container.name)

    def pod_name(self) -> str:
        return str(self.pod().metadata.name)

    def wait_ready(self, timeout: float = 300.0, poll: float = 0.5) -> k8s.V1Pod:
        """Wait until the rollout is complete and the app container runs; return the pod."""

        def probe() -> tuple[k8s.V1Pod | None, str]:
            deployment = self.kube.get("Deployment", self.name)
            pods = self.kube.pods(self.selector) if deployment is not None else []
            state = podstate.rollout_state(self.name, deployment, pods)
            return (self.pod(), "ready") if state is None else (None, state)

        pause = self.kube.changes("Pod", selector=self.selector)  # a pod event: probe at once
        return wait_for(probe, f"component {self.name} to become ready", timeout, poll, pause=pause)

    def container_instance(self, pod: k8s.V1Pod) -> str:
        """The app container's current instance (see :func:`.podstate.container_instance`)."""
        return podstate.container_instance(pod, self.devfile.app_container.name)

    # -- sync ------------------------------------------------------------------------------
    def index(self) -> FileIndex:
        return FileIndex(self.root, state_dir=self.state_dir, key=self.key, exclude=self.exclude)

    def pending(self, pod: k8s.V1Pod | None = None) -> tuple[Changes, Snapshot, k8s.V1Pod]:
        """What a sync would send now, against the index kept for the current container."""
        pod = pod or self.pod()
        index = self.index()
        same_pod = self.state.get("container") == self.container_instance(pod)
        old = index.load() if same_pod else None
        new = index.scan(previous=old)
        return index.diff(old, new), new, pod

    def sync_digest(self, pod: k8s.V1Pod | None = None) -> str:
        """A digest of (tree, container): equal digests mean a sync would send nothing."""
        _, snapshot, pod = self.pending(pod)
        return f"{self.container_instance(pod)}:{snapshot.digest()}"

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
        when it has one (:mod:`.delivery`), else one exec per step.

        ``build``: None builds when anything moved or the last build was of another tree (what
        a push does); a callable decides from the sync's result; a bool forces it. When a build
        follows, ``on_synced`` gets what was sent once the files are in, and ``on_serving`` the
        ``time.monotonic()`` at which the restarted app accepted connections (agent only).
        """
        pod = pod or self.pod()
        changes, snapshot, pod = self.pending(pod)
        name = pod.metadata.name
        result = SyncResult(changes, name, f"{self.container_instance(pod)}:{snapshot.digest()}")
        if build is None:
            wanted = bool(changes) or not self.build_uptodate(result.digest)
        else:
            wanted = build(result) if callable(build) else build
        if not changes and not wanted:
            if changes.commit_due:  # e.g. stat changed, content did not: remember, no re-hash
                self.index().commit(snapshot)
            return Delivery(result)
        self.ensure_runtime(pod, output)
        # Build steps in other containers run by exec (run_sidecar_steps): not through the agent.
        if not (wanted and self.devfile.sidecar_runs("build")):
            done = self._deliver_by_agent(
                pod,
                result,
                snapshot,
                build=wanted,
                output=output,
                on_synced=on_synced,
                on_serving=on_serving,
                timeout=timeout,
            )
            if done is not None:
                return done
        return self._deliver_by_exec(
            result,
            snapshot,
            pod,
            build=wanted,
            output=output,
            on_synced=on_synced,
            timeout=timeout,
        )

    def ensure_runtime(self, pod: k8s.V1Pod, output: Output | None = None) -> None:
        """In the inject layout, put this pyodo's runtime into the app container unless the
        state file says this container instance has it (:mod:`.inject`); else nothing."""
        if self.context.layout != contract.LAYOUT_INJECT:
            return
        mark = f"{self.container_instance(pod)}:{self.context.runtime}"
        if self.state.get("runtime") == mark:
            return
        name, app = pod.metadata.name, self.devfile.app_container

        def run(args: list[str], *, input: bytes | None = None, timeout: float = 60.0) -> Any:
            return self.kube.exec(name, args, container=app.name, input=input, timeout=timeout)

        done = ensure_runtime(run, f"pod/{name} container {app.name}", app.image, output)
        log.debug("runtime in pod/%s: %d bytes in %.0f ms", name, done.sent, done.seconds * 1000)
        self.state.update(runtime=mark)

    def _deliver_by_agent(
        self,
        pod: k8s.V1Pod,
        result: SyncResult,
        snapshot: Snapshot,
        **options: Any,
    ) -> Delivery | None:
        """One exchange with the container's agent (started again once if its stream broke);
        None when the container has no agent."""
        for attempt in (1, 2):
            session = self._agents.get(self, pod)
            if session is None:
                return None
            try:
                return deliver_with_agent(self, session, pod, result, snapshot, **options)
            except WaitTimeout:
                self._agents.close()
                raise
            except ClusterError as exc:  # the stream broke: nothing was committed
                self._agents.close()
                if attempt == 2:
                    raise
                log.info("the agent's stream broke (%s); starting it again", exc)
        return None

    def _deliver_by_exec(
        self,
        result: SyncResult,
        snapshot: Snapshot,
        pod: k8s.V1Pod,
        *,
        build: bool,
        output: Output | None,
        on_synced: Callable[[SyncResult], None] | None,
        timeout: float,
    ) -> Delivery:
        changes, name = result.changes, pod.metadata.name
        sent = 0
        started = time.monotonic()
        if changes:
            dest = self.devfile.source_dir
            app = self.devfile.app_container
            (output or quiet)(f"Syncing files into pod/{name}:{dest}: {changes.summary()}")
            target = SyncTarget(self.kube, name, app.name, app.image, dest)
            sent = send_changes(target, self.root, changes, snapshot)
            self.index().commit(snapshot)
            self.state.update(container=self.container_instance(pod))
        elif changes.commit_due:
            self.index().commit(snapshot)
        synced = SyncResult(changes, name, result.digest, sent)
        timings = {"sync": (time.monotonic() - started) * 1000}
        if not build:
            return Delivery(synced, timings=timings)
        if on_synced is not None:
            on_synced(synced)
        self.build(output, timeout=timeout, pod=pod)
        self.mark_built(result.digest)
        timings["build"] = (time.monotonic() - started) * 1000
        return Delivery(synced, True, timings=timings)

    # -- build and run ---------------------------------------------------------------------
    def post_start(self, output: Output | None = None, timeout: float = 600.0) -> bool:
        """Run ``events.postStart`` once per app container instance; True when they ran.

        They run after the container's first sync (so they see the sources) and before its
        first build, each in its own command's container.
        """
        steps = self.devfile.post_start_steps()
        pod = self.pod()
        instance = self.container_instance(pod)
        if not self.post_start_due(instance):
            return False
        say = output or quiet
        for container, script in steps:
            say(f"[pyodo] postStart in {container}: {script}")
            self._run_step("postStart", pod.metadata.name, container, script, timeout, say)
        self.state.update(post_start=instance)
        return True

    def _run_step(
        self, what: str, pod: str, container: str, script: str, timeout: float, say: Output
    ) -> None:
        """One devfile step outside the app's build (an event's, ``postStart``/``preStop``, or
        a command's step in another container): its command line run by ``sh -c`` in its
        container, its lines streamed to ``say``; CommandError naming ``what`` on failure."""
        context = f"{what} of component {self.name} in pod/{pod}"
        run_streamed(
            self.kube,
            pod,
            ["sh", "-c", script],
            container=container,
            timeout=timeout,
            say=say,
            context=context,
        )

    def post_start_due(self, instance: str) -> bool:
        """True when ``events.postStart`` has not run yet in this container instance."""
        return bool(self.devfile.post_start_steps()) and self.state.get("post_start") != instance

    def build(
        self, output: Output | None = None, timeout: float = 900.0, pod: k8s.V1Pod | None = None
    ) -> ExecResult:
        """Run postStart events if this container has not yet, then ``assemble-and-restart``
        in the app container, streaming its output (one exec; see :meth:`deliver`)."""
        self.post_start(output)
        pod = pod.metadata.name if pod is not None else self.pod_name()
        self.run_sidecar_steps("build", pod, output or quiet, timeout)
        return run_streamed(
            self.kube,
            pod,
            list(contract.ASSEMBLE_AND_RESTART_COMMAND),
            container=self.devfile.app_container.name,
            timeout=timeout,
            say=output or quiet,
            shown_as=["assemble-and-restart"],
            context=f"pod/{pod} (component {self.name})",
        )

    def run_sidecar_steps(self, kind: str, pod: str, say: Output, timeout: float) -> None:
        """Run the ``kind`` command's steps that belong to other containers than the app's,
        each in its own container; a parallel composite's steps run together."""
        runs = list(self.devfile.sidecar_runs(kind))
        while runs:
            batch = [runs.pop(0)]
            while batch[0][2] and runs and runs[0][2]:
                batch.append(runs.pop(0))
            for container, script, _ in batch:
                say(f"[pyodo] {kind} in {container}: {script}")
            steps = [
                functools.partial(self._run_step, kind, pod, container, script, timeout, say)
                for container, script, _ in batch
            ]
            if len(steps) == 1:
                steps[0]()
                continue
            with concurrent.futures.ThreadPoolExecutor(len(steps)) as pool:
                for future in [pool.submit(step) for step in steps]:
                    future.result()

    def push(self, output: Output | None = None, timeout: float = 300.0) -> PushResult:
        """The whole push: apply if changed, wait, sync what changed, build if anything moved."""
        say = output or quiet
        applied = self.apply()
        if applied:
            say(f"Applied {', '.join(applied)}")
        pod = self.wait_ready(timeout=timeout)
        delivery = self.deliver(say, pod=pod)
        return PushResult(applied, delivery.sync, delivery.built, pod.metadata.name)

    def build_uptodate(self, digest: str) -> bool:
        return bool(self.state.get("built") == digest)

    def mark_built(self, digest: str) -> None:
        self.state.update(built=digest)

    # -- using the running component -------------------------------------------------------
    def exec(
        self,
        args: Sequence[str],
        *,
        container: str | None = None,
        check: bool = False,
        timeout: float = 60.0,
        input: bytes | None = None,
    ) -> ExecResult:
        """Run a command in the component's container, shaped like ``subprocess.run``."""
        return self.kube.exec(
            self.pod_name(),
            args,
            container=container or self.devfile.app_container.name,
            check=check,
            timeout=timeout,
            input=input,
        )

    def logs(self, tail_lines: int | None = 200, container: str | None = None) -> str:
        return self.kube.logs(
            self.pod_name(), container or self.devfile.app_container.name, tail_lines
        )

    def restart(self) -> None:
        """Restart the app through the supervisor (the pod stays)."""
        self.ensure_runtime(self.pod())
        self.exec([*contract.CTL_COMMAND, "restart"], check=True)

    def endpoint_spec(self, name: str | None = None) -> Endpoint:
        return pick_endpoint(self.devfile, name)

    def service_url(self, name: str | None = None) -> str:
        """The in-cluster address of an endpoint, through the component's Service."""
        return _service_url(self.endpoint_spec(name), self.name, self.namespace)

    def forward(self, name: str | None = None, local_port: int = 0) -> PortForwarder:
        """A local port forwarded to an endpoint (started, reused while this object lives)."""
        endpoint = self.endpoint_spec(name)
        if endpoint.name not in self._forwards:
            from pyodo_tasks.core.kube.portforward import PortForwarder

            self._forwards[endpoint.name] = PortForwarder(
                self.kube, self.pod_name, endpoint.target_port, local_port=local_port
            ).start()
        return self._forwards[endpoint.name]

    def endpoint(self, name: str | None = None, timeout: float = 120.0) -> str:
        """A URL reachable from this process, returned only once the app answers."""
        endpoint = self.endpoint_spec(name)
        forwarder = self.forward(endpoint.name)
        url = f"{scheme(endpoint)}://{forwarder.address}{endpoint.path}"
        return wait_answering(url, endpoint, timeout)

    def debug_report(self, tail_lines: int = 50) -> str:
        """Pod status, recent events and the log tail: what a failing test needs to show."""
        app = self.devfile.app_container.name
        return debug_report(self.kube, self.name, self.selector, app, tail_lines)

    def delete(self, timeout: float = 120.0) -> list[str]:
        """Delete every object of this component and wait until they are gone."""
        self.stop_forwards()
        self.pre_stop()
        manifests = [
            obj for obj in self.render() if KUBERNETES_COMPONENT_LABEL in obj["metadata"]["labels"]
        ]
        gone = delete_labelled_component(self.kube, self.name, timeout, manifests)
        self.state.unlink()
        self.index().index_path.unlink(missing_ok=True)
        return gone

    def pre_stop(self, timeout: float = 60.0) -> None:
        """Run ``events.preStop`` in the running pod, each step in its container; a pod that is
        not running has nothing to stop, and a failing step is logged, never blocks the delete."""
        steps = self.devfile.pre_stop_steps()
        if not steps:
            return
        pod = podstate.newest_running(self.kube.pods(self.selector))
        if pod is None:
            return
        for container, script in steps:
            try:
                self._run_step("preStop", pod.metadata.name, container, script, timeout, quiet)
            except PyodoError as exc:
                log.warning("preStop step in %s failed: %s", container, exc)

    def stop_forwards(self) -> None:
        """Stop the port-forwards this object started (the connection stays open)."""
        for forwarder in self._forwards.values():
            forwarder.stop()
        self._forwards.clear()

    def close(self) -> None:
        """Stop port-forwards and the agent; close the cluster connection if we opened it."""
        self.stop_forwards()
        self._agents.close()
        if self._owns_kube and self._kube is not None:
            self._kube.close()

    def __enter__(self) -> Component:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
