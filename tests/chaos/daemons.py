"""Stopping one of the local cluster's daemons for a while, always starting it again.

Through the test bed's own process control (:mod:`pyodo_tasks.testbed.procs`, the pid files of
the layout, as ``localboot``/``localdown`` use them): the daemon is stopped by the identity its
pid file recorded and started again with exactly the argv that file recorded (the cluster's
own, whichever checkout booted it), then waited for until the cluster answers again. The
restart is in a ``finally``: the shared cluster is never left without it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from filelock import FileLock, Timeout

from pyodo_tasks import host
from pyodo_tasks.core.kube import Kube
from pyodo_tasks.core.wait import wait_for
from pyodo_tasks.errors import ClusterError
from pyodo_tasks.testbed import localapi, procs
from pyodo_tasks.testbed.layout import Layout

#: Bound on the cluster answering again after the daemon is back.
BACK_TIMEOUT = 120.0
#: Bound on waiting for another ``up``/``down`` of the cluster before stopping a daemon.
LOCK_TIMEOUT = 60.0


@dataclass
class Outage:
    """When the daemon went and came back (``time.monotonic``), filled in as it happens."""

    name: str
    stopped_at: float = 0.0
    started_at: float = 0.0
    serving_at: float = 0.0


def recorded(name: str, layout: Layout | None = None) -> procs.Daemon:
    """The running daemon ``name`` as its pid file recorded it (skips when there is none:
    not the local test bed, or not booted by this machine's user)."""
    layout = layout or Layout()
    pid_file = layout.pids / f"{name}.pid"
    try:
        argv = list(json.loads(pid_file.read_text())["argv"])
    except (OSError, ValueError, KeyError):
        pytest.skip(f"no {pid_file}: the chaos cases that stop daemons need the local cluster")
    daemon = procs.Daemon(name, argv, layout.pids, layout.logs)
    if procs.running(daemon) is None:
        pytest.skip(f"{name} is not running")
    return daemon


def api_answers(kube: Kube) -> Callable[[], tuple[bool | None, str]]:
    """A probe: the API server answers ``kube``'s pod list."""

    def probe() -> tuple[bool | None, str]:
        try:
            kube.pods("app.kubernetes.io/managed-by=pyodo")
        except ClusterError as exc:
            return None, str(exc)[:160]
        return True, "answers"

    return probe


def healthy(layout: Layout | None = None) -> Callable[[], tuple[bool | None, str]]:
    """A probe: the cluster is what the test bed's ``up`` calls healthy (``/readyz`` 200 and
    the node Ready). A pod list answers seconds before ``/readyz`` does, and the kubelet calls
    the node NotReady while containerd is down: an ``up`` that got the lock before both were
    back would reboot the cluster."""
    layout = layout or Layout()

    def probe() -> tuple[bool | None, str]:
        code, body = localapi.api_get(layout, "/readyz")
        if code != 200:
            return None, f"/readyz {code} {body.strip()[-120:]}"
        node = localapi.node_state(layout)
        return (True if node == "Ready" else None), f"node {node}"

    return probe


def containerd_answers(layout: Layout | None = None) -> Callable[[], tuple[bool | None, str]]:
    """A probe: containerd answers on its socket (``ctr version``, as the boot waits for it)."""
    sock = (layout or Layout()).containerd_socket

    def probe() -> tuple[bool | None, str]:
        proc = host.run(
            ["ctr", "--address", str(sock), "version"], timeout=10, what="ctr version", check=False
        )
        return (True if proc.returncode == 0 else None), proc.stderr.strip()[-160:]

    return probe


@contextmanager
def cluster_lock(layout: Layout | None = None) -> Iterator[None]:
    """The test bed's up/down lock (:mod:`pyodo_tasks.testbed.uplock`'s file) for the outage.

    Without it, another session's ``up`` (every cluster test session calls it) finding the API
    server stopped would call the cluster broken, tear it down and boot a new one; holding it,
    that ``up`` waits until the daemon is back and finds the cluster healthy. Bounded: when an
    ``up`` or ``down`` holds it for over a minute, the case is skipped.
    """
    state = (layout or Layout()).state
    lock = FileLock(str(state.with_name(state.name + ".lock")))
    try:
        lock.acquire(timeout=LOCK_TIMEOUT)
    except Timeout:
        pytest.skip(f"another up/down of the cluster held its lock for {LOCK_TIMEOUT:g}s")
    try:
        yield
    finally:
        lock.release()


@contextmanager
def stopped(
    name: str, seconds: float, serving: Callable[[], tuple[bool | None, str]]
) -> Iterator[Outage]:
    """Stop ``name`` for ``seconds`` inside the block (which runs while it is down), then start
    it again and wait until ``serving`` says it serves and the cluster is healthy again; the
    restart happens whatever the block does, and no ``up`` or ``down`` of the cluster runs
    meanwhile (:func:`cluster_lock`)."""
    with cluster_lock():
        daemon = recorded(name)
        outage = Outage(name)
        procs.stop(daemon)
        outage.stopped_at = time.monotonic()
        try:
            yield outage
            time.sleep(max(0.0, outage.stopped_at + seconds - time.monotonic()))
        finally:
            procs.start(daemon)
            outage.started_at = time.monotonic()
            wait_for(serving, f"{name} to serve again", BACK_TIMEOUT, interval=0.25)
            outage.serving_at = time.monotonic()
            wait_for(healthy(), f"the cluster healthy after {name}", BACK_TIMEOUT, interval=0.25)
