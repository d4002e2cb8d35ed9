"""Is the test run that left these objects still alive? A liveness record per run, and the reaper.

The expiry label (``--pyodo-ttl``, 4 h by default) bounds how long a killed run's objects
live; it cannot tell a dead run from a slow one. Each run therefore keeps one record: a
ConfigMap ``pyodo-run-<run id>`` next to its objects, labelled with the run id and
``pyodo.dev/alive-until`` (now + :data:`GRACE`), renewed every :data:`RENEW_EVERY` seconds by
a thread in every process of the run, and annotated with the identity of the process that
cleans up at the end (the xdist controller, or the session itself): boot id, pid and the start
time from ``/proc/<pid>/stat`` (a pid alone is reused; ``cmdline`` is empty right after exec).

The next session (:func:`reap_dead_runs`, at its start) deletes the namespaces and objects of
every run whose record says it is dead: its process is gone on this very boot (seen at once),
or nobody renewed the record in time (another host, a frozen VM). A plain library: no pytest.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pyodo_tasks.errors import ClusterError

__all__ = [
    "ALIVE_UNTIL_LABEL",
    "GRACE",
    "HOLDER_ANNOTATION",
    "RENEW_EVERY",
    "Heartbeat",
    "holder_alive",
    "process_identity",
    "reap_dead_runs",
    "record_object",
]

log = logging.getLogger("pytest_pyodo")

ALIVE_UNTIL_LABEL = "pyodo.dev/alive-until"
HOLDER_ANNOTATION = "pyodo.dev/holder"
#: Seconds between renewals of a run's record.
RENEW_EVERY = 30.0
#: A record not renewed for this long belongs to a dead run (three missed renewals).
GRACE = 90.0
_MANAGED = "app.kubernetes.io/managed-by=pyodo"
#: ``pyodo_tasks.core.gc.RUN_ID_LABEL``, repeated: importing the engine loads the Kubernetes
#: client, and the plugin names its process identity at every pytest start.
RUN_ID_LABEL = "pyodo.dev/run-id"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return socket.gethostname()


def _start_time(pid: int) -> str | None:
    """Field 22 of ``/proc/<pid>/stat`` (after the parenthesised name), or None if no such pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def process_identity(pid: int | None = None) -> str:
    """``<boot id>/<pid>/<start time>``: names one process for as long as the machine is up."""
    pid = os.getpid() if pid is None else pid
    return f"{_boot_id()}/{pid}/{_start_time(pid) or '?'}"


def holder_alive(holder: str) -> bool | None:
    """True/False for a process of this boot; None when it ran elsewhere (cannot tell)."""
    parts = holder.split("/")
    if len(parts) != 3 or parts[0] != _boot_id() or not parts[1].isdigit():
        return None
    return _start_time(int(parts[1])) == parts[2]


def record_name(run_id: str) -> str:
    return f"pyodo-run-{run_id}"


def record_object(
    run_id: str, namespace: str, labels: Mapping[str, str], holder: str, now: float | None = None
) -> dict[str, Any]:
    """The run's liveness record (a ConfigMap), alive until ``now`` + :data:`GRACE`."""
    now = time.time() if now is None else now
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": record_name(run_id),
            "namespace": namespace,
            "labels": {**labels, ALIVE_UNTIL_LABEL: str(int(now + GRACE))},
            "annotations": {HOLDER_ANNOTATION: holder},
        },
        "data": {"run-id": run_id, "holder": holder},
    }


def is_dead(meta: Mapping[str, Any], now: float) -> bool:
    """A record is dead when its holder is gone (this boot) or it was not renewed in time."""
    holder = (meta.get("annotations") or {}).get(HOLDER_ANNOTATION, "")
    alive = holder_alive(holder)
    if alive is not None:
        return not alive
    try:
        return int((meta.get("labels") or {}).get(ALIVE_UNTIL_LABEL, "")) < now
    except ValueError:
        return False


class Heartbeat:
    """Keeps a run's record alive: applies it now, then every :data:`RENEW_EVERY` seconds.

    Runs in a daemon thread with its own cluster connection (``connect()``), so it never
    shares a client with a deploy; a failed renewal is logged and retried next time.
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        run_id: str,
        namespace: str,
        labels: Mapping[str, str],
        holder: str,
        every: float = RENEW_EVERY,
    ) -> None:
        self._connect = connect
        self.run_id = run_id
        self.namespace = namespace
        self.labels = dict(labels)
        self.holder = holder
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._kube: Any = None

    def start(self) -> Heartbeat:
        self._kube = self._connect()
        self.renew()  # the first one in the caller's thread: its error is the caller's
        self._thread = threading.Thread(target=self._loop, name="pyodo-heartbeat", daemon=True)
        self._thread.start()
        return self

    def renew(self) -> None:
        self._kube.apply(record_object(self.run_id, self.namespace, self.labels, self.holder))

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.renew()
            except ClusterError as exc:
                log.debug("[liveness] renewing the run's record failed: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.every + 30)
        if self._kube is not None:
            self._kube.close()
            self._kube = None


def _records(kube: Any, namespace: str) -> list[dict[str, Any]]:
    """Liveness records in the pyodo namespaces and in ``namespace`` (403s skipped)."""
    try:
        places = [ns.metadata.name for ns in kube.namespaces(_MANAGED)]
    except ClusterError as exc:
        if exc.status != 403:
            raise
        places = []
    found = []
    for place in dict.fromkeys([namespace, *places]):
        try:
            found += kube.list_labelled(ALIVE_UNTIL_LABEL, place, kinds=["ConfigMap"])
        except ClusterError as exc:
            if exc.status not in (403, 404):
                raise
    return found


def reap_dead_runs(
    kube: Any, namespace: str, own_run_id: str, now: float | None = None
) -> list[str]:
    """Delete the namespaces and objects of every dead run whose record is visible from here.

    Returns what was deleted (``Namespace/x``, ``Kind/y``); does not wait for them to be gone.
    """
    now = time.time() if now is None else now
    gone: list[str] = []
    for record in _records(kube, namespace):
        meta = record["metadata"]
        run_id = (meta.get("labels") or {}).get(RUN_ID_LABEL)
        if not run_id or run_id == own_run_id or not is_dead(meta, now):
            continue
        selector = f"{RUN_ID_LABEL}={run_id}"
        try:
            for ns in kube.namespaces(selector):
                if kube.delete_namespace(ns.metadata.name):
                    gone.append(f"Namespace/{ns.metadata.name}")
        except ClusterError as exc:
            if exc.status != 403:
                raise
        gone += kube.delete_labelled(selector, meta["namespace"])
        log.info("[liveness] run %s is dead (%s)", run_id, meta.get("annotations"))
    return gone
