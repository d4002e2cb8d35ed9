"""The tasks on the running component: forward, delete, verify and logs.

Why apart from the push graph (:mod:`.push`): each stands alone (no ``task_dep``, never up to
date) and uses what a push left running; ``delete`` works even when the devfile does not load.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from pyodo_tasks.core.debugging import (
    attach_lines,
    debug_port,
    debugger,
    is_debug_endpoint,
    is_forwarded,
)
from pyodo_tasks.core.endpoints import matching_url, shown_scheme
from pyodo_tasks.core.kube.target import Target
from pyodo_tasks.core.teardown import delete_labelled_component, orphan_of
from pyodo_tasks.errors import DevfileError
from pyodo_tasks.runtime import contract
from pyodo_tasks.tasks.bound import BoundComponent, Task, say, task

__all__ = ["RunningTasks"]


class RunningTasks(BoundComponent):
    """The actions (plain callables; doit's result contract) and task dicts of forward,
    delete, verify and logs."""

    def _forward(self, seconds: float = 0) -> None:
        component = self.component
        urls, attach = [], []
        for container in component.devfile.containers:
            for endpoint in container.endpoints:
                if not is_forwarded(endpoint, self.debug):
                    continue  # UDP, or a debug endpoint outside debug mode (as doit dev)
                forwarder = component.forward(endpoint.name)
                url = f"{shown_scheme(endpoint)}://{forwarder.address}{endpoint.path}"
                urls.append(f"{endpoint.name}: {matching_url(url, endpoint)}")
                if self.debug and is_debug_endpoint(endpoint):
                    attach += self._attach_lines(forwarder.host, forwarder.local_port)
        port = debug_port(component.devfile) if self.debug and not attach else None
        if port is not None:  # DEBUG_PORT alone, no endpoint declared for it
            forwarder = component.forward_port(port.port)
            urls.append(f"{contract.ENV_DEBUG_PORT} {port.port}: {forwarder.address}")
            attach += self._attach_lines(forwarder.host, forwarder.local_port)
        for url in urls:
            say(f"Forwarding {url}")
        for line in attach:
            say(line)
        say("Press Ctrl-C to stop" if not seconds else f"Forwarding for {seconds:g}s")
        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            deadline = time.monotonic() + seconds if seconds else None
            while not stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                stop.wait(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            component.stop_forwards()

    def _attach_lines(self, host: str, port: int) -> list[str]:
        """``doit forward debug=true``: how to attach to the forwarded debug endpoint."""
        devfile = self.component.devfile
        kind = debugger(devfile)
        return list(attach_lines(kind, host, port, devfile.source_dir))

    def _delete(self) -> None:
        try:
            component = self.component
        except DevfileError as exc:  # a broken devfile must not keep anyone from cleaning up
            gone = self._delete_orphan(exc)
        else:
            gone = component.delete()
        say(f"Deleted {', '.join(gone) or 'nothing (no labelled objects)'}")

    def _delete_orphan(self, why: DevfileError) -> list[str]:
        """Delete by the component's labels, its name from the state in ``.pyodo`` or the
        directory (see :mod:`pyodo_tasks.core.teardown`); preStop cannot run without commands."""
        from pyodo_tasks.core.kube.client import Kube

        directory = self.path if self.path.is_dir() else self.path.parent
        with Kube(self.target or Target.from_env(os.environ)) as kube:
            orphan = orphan_of(directory, directory / ".pyodo", kube.target.context, kube.namespace)
            first = str(why).splitlines()[0]
            say(
                f"The devfile does not load ({first}); deleting component {orphan.name} "
                f"(named by {orphan.source}) by its labels, without running preStop"
            )
            gone = delete_labelled_component(kube, orphan.name, timeout=120.0)
        for path in orphan.state_files:
            path.unlink(missing_ok=True)
        return gone

    def _verify(self) -> None:
        from pyodo_tasks.core.verify import check

        say(check(self.component).summary())

    def _logs(self, lines: int = 100) -> None:
        say(self.component.logs(tail_lines=lines))

    def _forward_task(self) -> Task:
        return task(
            "Forward each endpoint to a localhost port until Ctrl-C", (self._forward, [], {})
        )

    def _delete_task(self) -> Task:
        return task("Delete every object the component owns", self._delete)

    def _verify_task(self) -> Task:
        doc = "Check the container holds exactly what was synced (one exec, vs the index)"
        return task(doc, self._verify)

    def _logs_task(self) -> Task:
        return task("Show the app container's log tail", (self._logs, [], {}))
