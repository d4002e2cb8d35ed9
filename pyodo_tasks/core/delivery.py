"""Sync and build-and-restart as ONE exchange with the container's resident agent.

Why: the copy and the build used to be two or three exec sessions per edit (each a new TLS
websocket and a new runc exec). With the agent (:mod:`pyodo_tasks.core.agent`) an edit is one
request on a stream opened once per container instance; the agent also reports when the
restarted app accepts connections again, which is what the dev loop shows as save->serving.

The rules do not change with the transport: the index is committed only after the files
arrived; a failed build raises :class:`~pyodo_tasks.errors.CommandError` after the sync was
committed (the supervisor keeps the previous app); ``events.postStart`` runs once per container
after its first sync and before its first build. Without the agent (older init image, or
``PYODO_AGENT=off``) the same call (:func:`deliver`) runs the per-step exec path
(:func:`deliver_by_exec`).

What it needs of the component is :class:`DeliveryTarget`, a protocol: delivery never imports
the component's module, which imports it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pyodo_tasks.core.agent import (
    AgentResult,
    AgentSession,
    AgentUnavailable,
    PipeOpener,
    prefetch,
)
from pyodo_tasks.core.commands import Output, quiet
from pyodo_tasks.core.results import SyncResult
from pyodo_tasks.core.sync import ByteCounter, SyncTarget, send_changes
from pyodo_tasks.core.tarball import build_tar
from pyodo_tasks.errors import ClusterError, CommandError, SyncError, WaitTimeout

if TYPE_CHECKING:
    from pyodo_tasks.core.devfile import Devfile
    from pyodo_tasks.core.index import Changes, FileIndex, Snapshot
    from pyodo_tasks.core.kube import Kube
    from pyodo_tasks.core.statefile import StateFile

__all__ = [
    "AgentPool",
    "Delivery",
    "DeliveryTarget",
    "agent_enabled",
    "deliver",
    "deliver_by_exec",
    "deliver_with_agent",
    "tcp_ports",
]

log = logging.getLogger(__name__)

_TCP = frozenset({"http", "https", "ws", "wss", "tcp"})


#: The agent is used wherever the init image has it; ``PYODO_AGENT=off`` turns it off.
DEFAULT_AGENT = "on"


def agent_enabled(environ: Any) -> bool:
    """``PYODO_AGENT=off`` (or 0/false/no) forces the per-step exec path."""
    value = str(environ.get("PYODO_AGENT", DEFAULT_AGENT)).strip().lower()
    return value not in ("off", "0", "false", "no")


def index_by_stat(environ: Any) -> bool:
    """Whether pushes refresh the index by stat (:mod:`.refresh`): ``PYODO_INDEX=walk``
    makes every push walk the tree instead, for a file system whose directory mtimes do not
    move with the names in them (git has ``update-index --test-untracked-cache`` for those)."""
    return str(environ.get("PYODO_INDEX", "stat")).strip().lower() != "walk"


@dataclass
class Delivery:
    """What :func:`deliver` did."""

    sync: SyncResult
    built: bool = False
    #: ``"agent"`` (one exchange) or ``"exec"`` (one exec per step).
    via: str = "exec"
    #: ``time.monotonic()`` when the restarted app accepted again (agent only), else None.
    serving_at: float | None = None
    #: Milliseconds per step as measured where they ran.
    timings: dict[str, float] = field(default_factory=dict)


class DeliveryTarget(PipeOpener, Protocol):
    """What delivery needs of the component it delivers, and nothing more: its files with
    their index and state, the container instance that state is kept for, the runtime put in,
    its ``postStart`` and build steps, the cluster. The push façade satisfies it; delivery
    never sees the rest of it."""

    @property
    def name(self) -> str: ...

    @property
    def root(self) -> Path: ...

    @property
    def devfile(self) -> Devfile: ...

    @property
    def environ(self) -> Mapping[str, str]: ...

    @property
    def state(self) -> StateFile: ...

    @property
    def kube(self) -> Kube: ...

    def index(self) -> FileIndex: ...

    def container_instance(self, pod: Any) -> str: ...

    def pending(self, pod: Any = None) -> tuple[Changes, Snapshot, Any]: ...

    def build_uptodate(self, digest: str) -> bool: ...

    def mark_built(self, digest: str) -> None: ...

    def ensure_runtime(self, pod: Any, output: Output | None = None) -> None: ...

    def post_start_due(self, instance: str) -> bool: ...

    def post_start(self, output: Output | None = None, timeout: float = 600.0) -> bool: ...

    def build(
        self, output: Output | None = None, timeout: float = 900.0, pod: Any = None
    ) -> object: ...


class AgentPool:
    """The one agent session of a component, bound to one container instance."""

    def __init__(self) -> None:
        self.session: AgentSession | None = None
        self.instance = ""
        #: Container instances where the agent could not start: per-step exec there.
        self.missing: set[str] = set()

    def get(self, target: DeliveryTarget, pod: Any) -> AgentSession | None:
        instance = target.container_instance(pod)
        if self.session is not None and (self.session.closed or self.instance != instance):
            self.close()
        if self.session is not None:
            return self.session
        if instance in self.missing or not agent_enabled(target.environ):
            return None
        started = time.monotonic()
        try:
            self.session = AgentSession.open(
                target, pod.metadata.name, target.devfile.app_container.name
            )
        except AgentUnavailable as exc:
            log.info("no agent in pod/%s (%s): one exec per step", pod.metadata.name, exc)
            self.missing.add(instance)
            return None
        self.instance = instance
        log.debug(
            "agent started in pod/%s in %.0f ms",
            pod.metadata.name,
            (time.monotonic() - started) * 1000,
        )
        return self.session

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
        self.session = None
        self.instance = ""

    def deliver(
        self,
        target: DeliveryTarget,
        pod: Any,
        result: SyncResult,
        snapshot: Snapshot,
        **options: Any,
    ) -> Delivery | None:
        """One exchange with the container's agent (started again once if its stream broke);
        None when the container has no agent."""
        for attempt in (1, 2):
            session = self.get(target, pod)
            if session is None:
                return None
            try:
                return deliver_with_agent(target, session, pod, result, snapshot, **options)
            except WaitTimeout:
                self.close()
                raise
            except ClusterError as exc:  # the stream broke: nothing was committed
                self.close()
                if attempt == 2:
                    raise
                log.info("the agent's stream broke (%s); starting it again", exc)
        return None


def tcp_ports(target: DeliveryTarget) -> list[int]:
    """The app container's TCP endpoint ports: the agent's "serving" probe."""
    return sorted(
        {e.target_port for e in target.devfile.app_container.endpoints if e.protocol in _TCP}
    )


def deliver(
    target: DeliveryTarget,
    agents: AgentPool,
    pod: Any,
    build: bool | Callable[[SyncResult], bool] | None = None,
    output: Output | None = None,
    on_synced: Callable[[SyncResult], None] | None = None,
    on_serving: Callable[[float], None] | None = None,
    timeout: float = 900.0,
) -> Delivery:
    """Sync what changed and build-and-restart, in ONE exchange with the container's agent
    when it has one, else one exec per step.

    ``build``: None builds when anything moved or the last build was of another tree (what
    a push does); a callable decides from the sync's result; a bool forces it. When a build
    follows, ``on_synced`` gets what was sent once the files are in, and ``on_serving`` the
    ``time.monotonic()`` at which the restarted app accepted connections (agent only).
    """
    changes, snapshot, pod = target.pending(pod)
    name = pod.metadata.name
    result = SyncResult(changes, name, f"{target.container_instance(pod)}:{snapshot.digest()}")
    if build is None:
        wanted = bool(changes) or not target.build_uptodate(result.digest)
    else:
        wanted = build(result) if callable(build) else build
    if not changes and not wanted:
        if changes.commit_due:  # e.g. stat changed, content did not: remember, no re-hash
            target.index().commit(snapshot)
        return Delivery(result)
    target.ensure_runtime(pod, output)
    # Build steps in other containers run by exec (run_sidecar_steps): not through the agent.
    if not (wanted and target.devfile.sidecar_runs("build")):
        done = agents.deliver(
            target,
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
    return deliver_by_exec(
        target,
        result,
        snapshot,
        pod,
        build=wanted,
        output=output,
        on_synced=on_synced,
        timeout=timeout,
    )


def deliver_by_exec(
    target: DeliveryTarget,
    result: SyncResult,
    snapshot: Snapshot,
    pod: Any,
    *,
    build: bool,
    output: Output | None,
    on_synced: Callable[[SyncResult], None] | None,
    timeout: float,
) -> Delivery:
    """The per-step path: the change set through exec (:mod:`.sync`), then the build (one
    exec, its output streamed); the index is committed once the files are in."""
    changes, name = result.changes, pod.metadata.name
    sent = 0
    started = time.monotonic()
    if changes:
        dest = target.devfile.source_dir
        app = target.devfile.app_container
        (output or quiet)(f"Syncing files into pod/{name}:{dest}: {changes.summary()}")
        into = SyncTarget(target.kube, name, app.name, app.image, dest)
        sent = send_changes(into, target.root, changes, snapshot)
        target.index().commit(snapshot)
        target.state.update(container=target.container_instance(pod))
    elif changes.commit_due:
        target.index().commit(snapshot)
    synced = SyncResult(changes, name, result.digest, sent)
    timings = {"sync": (time.monotonic() - started) * 1000}
    if not build:
        return Delivery(synced, timings=timings)
    if on_synced is not None:
        on_synced(synced)
    target.build(output, timeout=timeout, pod=pod)
    target.mark_built(result.digest)
    timings["build"] = (time.monotonic() - started) * 1000
    return Delivery(synced, True, timings=timings)


def deliver_with_agent(
    target: DeliveryTarget,
    session: AgentSession,
    pod: Any,
    result: SyncResult,
    snapshot: Any,
    *,
    build: bool,
    output: Output | None,
    on_synced: Callable[[SyncResult], None] | None,
    on_serving: Callable[[float], None] | None = None,
    timeout: float,
) -> Delivery:
    """The agent path of :func:`deliver` (see the module docstring)."""
    say = output or quiet
    changes = result.changes
    name = pod.metadata.name
    dest = target.devfile.source_dir
    instance = target.container_instance(pod)
    post_start_due = build and target.post_start_due(instance)
    in_one = build and not post_start_due  # else the build is a second request, after postStart
    counter = _tar_stream(target, changes, snapshot, f"pod/{name}:{dest}", say)

    def synced() -> SyncResult:
        return SyncResult(changes, name, result.digest, counter.total if counter else 0)

    def synced_event() -> None:
        if in_one and on_synced is not None:
            on_synced(synced())

    reply = session.request(
        dest=dest,
        mkdir=changes.full,
        delete=changes.to_delete(),
        chunks=counter,
        build=in_one,
        ports=tcp_ports(target) if in_one else (),
        on_output=say,
        on_synced=synced_event,
        on_serving=on_serving,
        timeout=timeout,
    )
    _commit_sync(target, reply, name, instance, changes, snapshot)
    sent = synced()
    timings = {"sync": reply.sync_ms}
    if not build:
        return Delivery(sent, via="agent", timings=timings)
    if post_start_due:  # after the first sync, before the first build: its own step
        if on_synced is not None:
            on_synced(sent)
        target.post_start(output)
        reply = _build(target, session, say, on_serving, timeout)
    _check_build(target, reply, name)
    target.mark_built(result.digest)
    timings.update(build=reply.build_ms, serving=reply.serving_ms, total=reply.total_ms)
    return Delivery(sent, True, "agent", reply.serving_at, timings)


def _tar_stream(
    target: DeliveryTarget, changes: Changes, snapshot: Any, where: str, say: Output
) -> ByteCounter | None:
    """The change set's tar, built in a thread while it is sent and counted; None when no file
    is sent (nothing changed, or deletions only)."""
    if not changes:
        return None
    say(f"Syncing files into {where}: {changes.summary()}")
    if not changes.to_send():
        return None
    return ByteCounter(prefetch(build_tar(target.root, changes.to_send(), snapshot)))


def _build(
    target: DeliveryTarget,
    session: AgentSession,
    say: Output,
    on_serving: Callable[[float], None] | None,
    timeout: float,
) -> AgentResult:
    """A request with no change set: build and restart only."""
    return session.request(
        dest=target.devfile.source_dir,
        build=True,
        ports=tcp_ports(target),
        on_output=say,
        on_serving=on_serving,
        timeout=timeout,
    )


def _commit_sync(
    target: DeliveryTarget,
    reply: AgentResult,
    pod: str,
    instance: str,
    changes: Changes,
    snapshot: Any,
) -> None:
    """Once the files arrived: the index (and which container holds them) is committed; a
    refused sync commits nothing."""
    if reply.error:
        raise _sync_error(target, pod, target.devfile.source_dir, reply.error)
    if changes or changes.commit_due:
        target.index().commit(snapshot)
    if changes:
        target.state.update(container=instance)


def _sync_error(target: DeliveryTarget, pod: str, dest: str, error: str) -> SyncError:
    """The same advice as the exec path's (:func:`.sync.sync_error`) for the agent's words."""
    if "permission denied" in error.lower() or "read-only" in error.lower():
        image = target.devfile.app_container.image
        return SyncError(
            f"{dest} is not writable in {image}: set the container's sourceMapping to a "
            f"writable directory ({error})"
        )
    return SyncError(f"copying into pod/{pod}:{dest} failed: {error}")


def _check_build(target: DeliveryTarget, reply: AgentResult, pod: str) -> None:
    if reply.code != 0:
        raise CommandError(
            ["assemble-and-restart"],
            reply.code,
            reply.output,
            f"pod/{pod} (component {target.name})",
        )
