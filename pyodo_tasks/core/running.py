"""Using the running component: commands in its container, its logs, a restart of its app,
its endpoints through local port-forwards, and the debug report a failing test shows.

Port-forwards live as long as this object (so a test's repeated ``endpoint()`` reuses one);
:meth:`Running.stop_forwards` ends them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pyodo_tasks.core.connection import Connection
from pyodo_tasks.core.devfile import Devfile, Endpoint
from pyodo_tasks.core.endpoints import pick_endpoint, scheme, wait_answering
from pyodo_tasks.core.endpoints import service_url as _service_url
from pyodo_tasks.core.kube.app_exec import AppExec
from pyodo_tasks.core.pods import Pods
from pyodo_tasks.core.report import debug_report
from pyodo_tasks.core.steps import Steps
from pyodo_tasks.runtime import contract

if TYPE_CHECKING:
    from pyodo_tasks.core.kube import ExecResult, PortForwarder

__all__ = ["Running"]


class Running(AppExec):
    """The running app of the component whose pods ``pods`` finds."""

    def __init__(self, devfile: Devfile, pods: Pods, steps: Steps, connection: Connection) -> None:
        self.devfile = devfile
        self.name = devfile.name
        self.pods = pods
        self.steps = steps
        self.connection = connection
        self._forwards: dict[int, PortForwarder] = {}

    def _exec(self, args: Sequence[str], **options: Any) -> ExecResult:
        pod = self.pods.pod_name()
        container = options.pop("container") or self.devfile.app_container.name
        return self.connection.kube.exec(pod, args, container=container, **options)

    def logs(self, tail_lines: int | None = 200, container: str | None = None) -> str:
        return self.connection.kube.logs(
            self.pods.pod_name(), container or self.devfile.app_container.name, tail_lines
        )

    def restart(self) -> None:
        """Restart the app through the supervisor (the pod stays)."""
        self.steps.ensure_runtime(self.pods.pod())
        self.exec([*contract.CTL_COMMAND, "restart"], check=True)

    def endpoint_spec(self, name: str | None = None) -> Endpoint:
        return pick_endpoint(self.devfile, name)

    def service_url(self, name: str | None = None) -> str:
        """The in-cluster address of an endpoint, through the component's Service."""
        return _service_url(self.endpoint_spec(name), self.name, self.connection.namespace)

    def forward(self, name: str | None = None, local_port: int = 0) -> PortForwarder:
        """A local port forwarded to an endpoint (started, reused while this object lives)."""
        return self.forward_port(self.endpoint_spec(name).target_port, local_port)

    def forward_port(self, target_port: int, local_port: int = 0) -> PortForwarder:
        """A local port forwarded to ``target_port`` of the pod, declared as an endpoint or
        not (a debugger's ``DEBUG_PORT``); one forward per port while this object lives."""
        if target_port not in self._forwards:
            # Imported on first use, like the client it streams through (.connection).
            from pyodo_tasks.core.kube.portforward import PortForwarder

            # The connection, not its client: it forwards without one while none is loaded.
            self._forwards[target_port] = PortForwarder(
                self.connection,
                self.pods.pod_name,
                target_port,
                local_port=local_port,
            ).start()
        return self._forwards[target_port]

    def endpoint(self, name: str | None = None, timeout: float = 120.0) -> str:
        """A URL reachable from this process, returned only once the app answers."""
        endpoint = self.endpoint_spec(name)
        forwarder = self.forward(endpoint.name)
        url = f"{scheme(endpoint)}://{forwarder.address}{endpoint.path}"
        return wait_answering(url, endpoint, timeout)

    def debug_report(self, tail_lines: int = 50) -> str:
        """Pod status, recent events and the log tail: what a failing test needs to show."""
        app = self.devfile.app_container.name
        return debug_report(self.connection.kube, self.name, self.pods.selector, app, tail_lines)

    def stop_forwards(self) -> None:
        """Stop the port-forwards this object started (the connection stays open)."""
        for forwarder in self._forwards.values():
            forwarder.stop()
        self._forwards.clear()
