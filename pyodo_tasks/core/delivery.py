"""Sync and build-and-restart as ONE exchange with the container's resident agent.

Why: the copy and the build used to be two or three exec sessions per edit (each a new TLS
websocket and a new runc exec). With the agent (:mod:`pyodo_tasks.core.agent`) an edit is one
request on a stream opened once per container instance; the agent also reports when the
restarted app accepts connections again, which is what the dev loop shows as save->serving.

The rules do not change with the transport: the index is committed only after the files
arrived; a failed build raises :class:`~pyodo_tasks.errors.CommandError` after the sync was
committed (the supervisor keeps the previous app); ``events.postStart`` runs once per container
after its first sync and before its first build. Without the agent (older init image, or
``PYODO_AGENT=off``) the same call runs today's per-step exec path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyodo_tasks.core.agent import AgentResult, AgentSession, AgentUnavailable, prefetch
from pyodo_tasks.core.commands import Output, quiet
from pyodo_tasks.core.sync import ByteCounter
from pyodo_tasks.core.tarball import build_tar
from pyodo_tasks.errors import CommandError, SyncError

if TYPE_CHECKING:
    from pyodo_tasks.core.component import Component, SyncResult
    from pyodo_tasks.core.index import Changes

__all__ = ["AgentPool", "Delivery", "agent_enabled", "deliver_with_agent", "tcp_ports"]

log = logging.getLogger(__name__)

_TCP = frozenset({"http", "https", "ws", "wss", "tcp"})


#: The agent is used wherever the init image has it; ``PYODO_AGENT=off`` turns it off.
DEFAULT_AGENT = "on"


def agent_enabled(environ: Any) -> bool:
    """``PYODO_AGENT=off`` (or 0/false/no) forces the per-step exec path."""
    value = str(environ.get("PYODO_AGENT", DEFAULT_AGENT)).strip().lower()
    return value not in ("off", "0", "false", "no")


@dataclass
class Delivery:
    """What :meth:`Component.deliver` did."""

    sync: SyncResult
    built: bool = False
    #: ``"agent"`` (one exchange) or ``"exec"`` (one exec per step).
    via: str = "exec"
    #: ``time.monotonic()`` when the restarted app accepted again (agent only), else None.
    serving_at: float | None = None
    #: Milliseconds per step as measured where they ran.
    timings: dict[str, float] = field(default_factory=dict)


class AgentPool:
    """The one agent session of a component, bound to one container instance."""

    def __init__(self) -> None:
        self.session: AgentSession | None = None
        self.instance = ""
        #: Container instances where the agent could not start: per-step exec there.
        self.missing: set[str] = set()

    def get(self, component: Component, pod: Any) -> AgentSession | None:
        instance = component.container_instance(pod)
        if self.session is not None and (self.session.closed or self.instance != instance):
            self.close()
        if self.session is not None:
            return self.session
        if instance in self.missing or not agent_enabled(component.environ):
            return None
        started = time.monotonic()
        try:
            self.session = AgentSession.open(
                component, pod.metadata.name, component.devfile.app_container.name
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


def tcp_ports(component: Component) -> list[int]:
    """The app container's TCP endpoint ports: the agent's "serving" probe."""
    return sorted(
        {e.target_port for e in component.devfile.app_container.endpoints if e.protocol in _TCP}
    )


def deliver_with_agent(
    component: Component,
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
    """The agent path of :meth:`Component.deliver` (see the module docstring)."""
    from pyodo_tasks.core.component import SyncResult

    say = output or quiet
    changes = result.changes
    name = pod.metadata.name
    dest = component.devfile.source_dir
    instance = component.container_instance(pod)
    post_start_due = build and component.post_start_due(instance)
    in_one = build and not post_start_due  # else the build is a second request, after postStart
    counter = _tar_stream(component, changes, snapshot, f"pod/{name}:{dest}", say)

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
        ports=tcp_ports(component) if in_one else (),
        on_output=say,
        on_synced=synced_event,
        on_serving=on_serving,
        timeout=timeout,
    )
    _commit_sync(component, reply, name, instance, changes, snapshot)
    sent = synced()
    timings = {"sync": reply.sync_ms}
    if not build:
        return Delivery(sent, via="agent", timings=timings)
    if post_start_due:  # after the first sync, before the first build: its own step
        if on_synced is not None:
            on_synced(sent)
        component.post_start(output)
        reply = _build(component, session, say, on_serving, timeout)
    _check_build(component, reply, name)
    component.mark_built(result.digest)
    timings.update(build=reply.build_ms, serving=reply.serving_ms, total=reply.total_ms)
    return Delivery(sent, True, "agent", reply.serving_at, timings)


def _tar_stream(
    component: Component, changes: Changes, snapshot: Any, where: str, say: Output
) -> ByteCounter | None:
    """The change set's tar, built in a thread while it is sent and counted; None when no file
    is sent (nothing changed, or deletions only)."""
    if not changes:
        return None
    say(f"Syncing files into {where}: {changes.summary()}")
    if not changes.to_send():
        return None
    return ByteCounter(prefetch(build_tar(component.root, changes.to_send(), snapshot)))


def _build(
    component: Component,
    session: AgentSession,
    say: Output,
    on_serving: Callable[[float], None] | None,
    timeout: float,
) -> AgentResult:
    """A request with no change set: build and restart only."""
    return session.request(
        dest=component.devfile.source_dir,
        build=True,
        ports=tcp_ports(component),
        on_output=say,
        on_serving=on_serving,
        timeout=timeout,
    )


def _commit_sync(
    component: Component,
    reply: AgentResult,
    pod: str,
    instance: str,
    changes: Changes,
    snapshot: Any,
) -> None:
    """Once the files arrived: the index (and which container holds them) is committed; a
    refused sync commits nothing."""
    if reply.error:
        raise _sync_error(component, pod, component.devfile.source_dir, reply.error)
    if changes or changes.commit_due:
        component.index().commit(snapshot)
    if changes:
        component.state.update(container=instance)


def _sync_error(component: Component, pod: str, dest: str, error: str) -> SyncError:
    """The same advice as the exec path's (:func:`.sync.sync_error`) for the agent's words."""
    if "permission denied" in error.lower() or "read-only" in error.lower():
        image = component.devfile.app_container.image
        return SyncError(
            f"{dest} is not writable in {image}: set the container's sourceMapping to a "
            f"writable directory ({error})"
        )
    return SyncError(f"copying into pod/{pod}:{dest} failed: {error}")


def _check_build(component: Component, reply: AgentResult, pod: str) -> None:
    if reply.code != 0:
        raise CommandError(
            ["assemble-and-restart"],
            reply.code,
            reply.output,
            f"pod/{pod} (component {component.name})",
        )
