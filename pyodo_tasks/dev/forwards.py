"""The port-forwards of ``doit dev``: one per endpoint, and the scheme each URL is shown with.

A forward listens on a local port that stays the same for the session (a restarted forward asks
for its old port again), and looks the pod up per connection: a new pod needs nothing here, only
a changed endpoint (another container port, or gone) restarts or stops its forward. Declared-TLS
endpoints are probed off the loop (:mod:`.schemes`) once the app serves, so the URLs shown
answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pyodo_tasks.core.component import Component
from pyodo_tasks.core.debugging import debug_port, is_forwarded
from pyodo_tasks.core.kube import Kube, PortForwarder
from pyodo_tasks.dev.schemes import SchemeProber
from pyodo_tasks.dev.state import ForwardedPort
from pyodo_tasks.errors import ClusterError

__all__ = ["Forwards", "forwardable_endpoints"]

log = logging.getLogger(__name__)


def _scheme_key(endpoint: Any) -> tuple[str, int, str]:
    return (endpoint.name, endpoint.target_port, endpoint.protocol)


def forwardable_endpoints(component: Component) -> list[tuple[str, Any]]:
    """``(container name, endpoint)`` for every endpoint a port-forward can carry, in order.

    Debug endpoints (``debug``, ``debug-…``) only in debug mode, as odo does; there, a
    ``DEBUG_PORT`` with no such endpoint is forwarded too (:mod:`pyodo_tasks.core.debugging`).
    """
    debug = component.context.debug
    found = [
        (container.name, endpoint)
        for container in component.devfile.containers
        for endpoint in container.endpoints
        if is_forwarded(endpoint, debug)
    ]
    port = debug_port(component.devfile) if debug else None
    if port is not None and all(endpoint.name != port.endpoint.name for _, endpoint in found):
        found.append((port.container, port.endpoint))
    return found


class Forwards:
    """The running forwards by endpoint name, and the ports the status shows.

    ``pod_name`` is called by the forwarders for each connection, from their own threads;
    ``on_probed`` when a scheme probe decided (the loop then rewrites its status).
    """

    def __init__(
        self, kube: Kube, pod_name: Callable[[], str], on_probed: Callable[[], None]
    ) -> None:
        self.kube = kube
        self._pod_name = pod_name
        self.running: dict[str, PortForwarder] = {}
        self._local_ports: dict[str, int] = {}
        self.ports: tuple[ForwardedPort, ...] = ()
        #: The endpoint behind each forwarded port, by name (what the scheme probe needs).
        self._endpoints: dict[str, Any] = {}
        self._schemes = SchemeProber(on_probed)

    def ensure(self, component: Component) -> None:
        """One forward per endpoint, on a local port that stays the same for the session: the
        forwarder looks the pod up per connection, so pod restarts need nothing here."""
        wanted = {endpoint.name: (c, endpoint) for c, endpoint in forwardable_endpoints(component)}
        for name, running in list(self.running.items()):
            want = wanted.get(name)
            if want is None or want[1].target_port != running.remote_port:
                running.stop()
                del self.running[name]
        ports = []
        self._endpoints = {name: endpoint for name, (_, endpoint) in wanted.items()}
        for name, (container, endpoint) in wanted.items():
            forwarder = self.running.get(name)
            if forwarder is None:
                forwarder = self._start(endpoint.target_port, self._local_ports.get(name, 0))
                self.running[name] = forwarder
                self._local_ports[name] = forwarder.local_port
            ports.append(
                ForwardedPort(
                    name=name,
                    container=container,
                    local_address=forwarder.host,
                    local_port=forwarder.local_port,
                    container_port=endpoint.target_port,
                    protocol=endpoint.protocol,
                    path=endpoint.path,
                    scheme=self._schemes.scheme(_scheme_key(endpoint)),
                )
            )
        self.ports = tuple(ports)

    def probe_schemes(self) -> None:
        """The app serves now: find out (off the loop) what each declared-TLS endpoint speaks,
        the decision ``Component.endpoint`` makes, so the URLs shown answer."""
        for port in self.ports:
            endpoint = self._endpoints.get(port.name)
            if endpoint is not None and not port.scheme:
                self._schemes.ensure(_scheme_key(endpoint), port.url, endpoint)

    def show_probed_schemes(self) -> None:
        """A probe decided: the same ports with the schemes found."""
        self.ports = tuple(
            replace(port, scheme=self._schemes.scheme(_scheme_key(endpoint)))
            if (endpoint := self._endpoints.get(port.name)) is not None
            else port
            for port in self.ports
        )

    def _start(self, remote_port: int, local_port: int) -> PortForwarder:
        try:
            return PortForwarder(
                self.kube, self._pod_name, remote_port, local_port=local_port
            ).start()
        except OSError as exc:  # the old local port was taken meanwhile: take a new one
            if not local_port:
                raise ClusterError(f"cannot listen for a port-forward: {exc}") from exc
            log.warning("local port %s is taken (%s); forwarding from a new port", local_port, exc)
            return PortForwarder(self.kube, self._pod_name, remote_port).start()

    def close(self) -> None:
        self._schemes.close()
        for forwarder in self.running.values():
            forwarder.stop()
        self.running.clear()
