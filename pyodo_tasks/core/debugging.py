"""Debug mode: the port a debugger attaches to, and the line that tells the developer how.

Why a module of its own: ``doit push debug=true``, ``doit dev --debug`` and the plugin's
``--pyodo-debug`` all render the pod with ``PYODO_DEBUG=true`` (``RenderContext.debug``; the
runtime's ``run`` script then starts the devfile's default ``debug`` command instead of ``run``),
forward the same port and print the same attach line. Pure: no cluster, no I/O.

Which port: the app container's endpoint named ``debug`` (or ``debug-…``, odo's rule), else the
container's ``DEBUG_PORT`` env value (the devfile registry's stacks set it), forwarded as TCP.
Which debugger: read from the debug command line (``debugpy``, ``--inspect``, ``jdwp``), else
guessed from the image the way the runtime's ``run`` script picks a language script.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyodo_tasks.core.devfile.model import Devfile, Endpoint
from pyodo_tasks.runtime import contract

if TYPE_CHECKING:  # the component renders through this module: no import at run time
    from pyodo_tasks.core.component import Component

__all__ = [
    "DEBUGPY",
    "JDWP",
    "NODE_INSPECTOR",
    "DebugPort",
    "attach_lines",
    "debug_port",
    "debugger",
    "forward_debugger",
    "is_debug_endpoint",
    "is_forwarded",
]

DEBUGPY = "debugpy"
NODE_INSPECTOR = "node-inspector"
JDWP = "jdwp"


def is_debug_endpoint(endpoint: Endpoint) -> bool:
    """odo's rule: an endpoint named ``debug`` or ``debug-…`` carries a debugger, forwarded only
    in debug mode."""
    return endpoint.name == "debug" or endpoint.name.startswith("debug-")


#: Port-forwarding carries TCP only.
_TCP_PROTOCOLS = frozenset({"http", "https", "ws", "wss", "tcp"})


def is_forwarded(endpoint: Endpoint, debug: bool) -> bool:
    """Whether ``doit dev`` and ``doit forward`` forward this endpoint: a port-forward carries
    TCP only, and a debug endpoint only in debug mode (nothing listens there otherwise)."""
    return endpoint.protocol in _TCP_PROTOCOLS and (debug or not is_debug_endpoint(endpoint))


@dataclass(frozen=True)
class DebugPort:
    """Where the debugger listens: the container, and the endpoint to forward (the devfile's,
    or one made from ``DEBUG_PORT``)."""

    container: str
    endpoint: Endpoint

    @property
    def port(self) -> int:
        return self.endpoint.target_port


def debug_port(devfile: Devfile) -> DebugPort | None:
    """The debug endpoint of any container, else the app container's ``DEBUG_PORT``; None when
    the devfile names neither."""
    for container in devfile.containers:
        for endpoint in container.endpoints:
            if is_debug_endpoint(endpoint):
                return DebugPort(container.name, endpoint)
    app = devfile.app_container
    value = next((e.value for e in app.env if e.name == contract.ENV_DEBUG_PORT), "")
    if value.strip().isdigit() and 0 < int(value) < 65536:
        endpoint = Endpoint(name="debug", target_port=int(value), exposure="none", protocol="tcp")
        return DebugPort(app.name, endpoint)
    return None


def debugger(devfile: Devfile) -> str:
    """:data:`DEBUGPY`, :data:`NODE_INSPECTOR`, :data:`JDWP`, or "" when it cannot tell."""
    command = devfile.default_command("debug")
    steps = devfile.flatten(command) if command is not None else ()
    line = " ".join(step.command_line for step in steps)
    for marker, kind in (("debugpy", DEBUGPY), ("--inspect", NODE_INSPECTOR), ("jdwp", JDWP)):
        if marker in line:
            return kind
    image = devfile.app_container.image
    # No debug command: the runtime's language scripts run node --inspect or add JDWP.
    for marker, kind in (("node", NODE_INSPECTOR), ("java", JDWP), ("jdk", JDWP)):
        if marker in image and not line:
            return kind
    return DEBUGPY if "python" in image else ""


def attach_lines(kind: str, host: str, port: int, remote_root: str) -> tuple[str, ...]:
    """How to attach ``kind``'s usual clients to ``host:port`` (the local end of the forward);
    ``remote_root`` is where the sources are in the pod, for an IDE's path mapping."""
    where = f"{host}:{port}"
    if kind == DEBUGPY:
        launch = {
            "type": "debugpy",
            "request": "attach",
            "connect": {"host": host, "port": port},
            "pathMappings": [{"localRoot": "${workspaceFolder}", "remoteRoot": remote_root}],
        }
        return (f"debugpy (DAP) listens on {where}; VS Code launch.json: {json.dumps(launch)}",)
    if kind == NODE_INSPECTOR:
        return (
            f"Node inspector on {where}: node inspect {where}, or chrome://inspect "
            f"(Configure... {where}); its targets: http://{where}/json/list",
        )
    if kind == JDWP:
        return (
            f"JDWP on {where}: jdb -attach {where}, or an IDE's remote JVM debug "
            f"(host {host}, port {port})",
        )
    return (f"debug port on {where} (attach your debugger there)",)


def forward_debugger(component: Component) -> tuple[str, ...]:
    """Forward ``component``'s debug endpoint to a local port (kept while the component object
    lives, like :meth:`Component.forward`) and say how to attach; for a component pushed in
    debug mode (the plugin's ``--pyodo-debug``). A devfile without a debug endpoint gets the
    line that says what to add."""
    devfile = component.devfile
    port = debug_port(devfile)
    if port is None:
        return (
            f"{devfile.name}: no endpoint named debug and no {contract.ENV_DEBUG_PORT} in "
            f"{devfile.path.name}: nothing forwarded for a debugger (add an endpoint named "
            "debug with the debug command's port)",
        )
    forwarder = component.forward_port(port.port)
    lines = attach_lines(
        debugger(devfile), forwarder.host, forwarder.local_port, devfile.source_dir
    )
    return tuple(f"{devfile.name}: {line}" for line in lines)
