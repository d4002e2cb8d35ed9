"""``doit dev --debug``: the attach line, said once per forwarded debug port.

Why apart from the forwards (:mod:`.forwards`): the forward of a debug endpoint is an ordinary
forward, kept across pod restarts like the app's; only what the developer is told differs, and
it is said again only when the local port changes (a restarted app keeps it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyodo_tasks.core.component import Component
from pyodo_tasks.core.debugging import attach_lines, debug_port, debugger
from pyodo_tasks.dev.state import ForwardedPort

__all__ = ["AttachNotice"]


class AttachNotice:
    """Says how to attach a debugger when the debug port is first forwarded, or moves."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say
        self._shown: tuple[str, int] | None = None

    def show(self, component: Component, ports: Sequence[ForwardedPort]) -> None:
        if not component.context.debug:
            return
        wanted = debug_port(component.devfile)
        if wanted is None:
            if self._shown != ("", 0):
                self._shown = ("", 0)
                self._say(
                    "[dev] --debug: the devfile has no debug endpoint and no DEBUG_PORT, so "
                    "nothing is forwarded for a debugger (add an endpoint named debug)"
                )
            return
        port = next((p for p in ports if p.name == wanted.endpoint.name), None)
        if port is None or self._shown == (port.local_address, port.local_port):
            return
        self._shown = (port.local_address, port.local_port)
        kind = debugger(component.devfile)
        root = component.devfile.source_dir
        for line in attach_lines(kind, port.local_address, port.local_port, root):
            self._say(f"[dev] {line}")
