"""The debug report a failing test shows: pod status, recent events, the app's log tail.

Best effort by design: it is written while something already failed, so a cluster error while
reading stops the report with a note instead of hiding the failure it is meant to explain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyodo_tasks.core.podstate import container_statuses, describe_container
from pyodo_tasks.errors import ClusterError

if TYPE_CHECKING:
    from pyodo_tasks.core.kube import Kube

__all__ = ["debug_report"]


def debug_report(kube: Kube, name: str, selector: str, container: str, tail_lines: int) -> str:
    """Pods matching ``selector``, events about ``name``, and ``container``'s log tail."""
    lines = [f"component {name} in {kube.target.context}/{kube.namespace}"]
    try:
        pods = kube.pods(selector)
        for pod in pods:
            lines.append(f"pod/{pod.metadata.name}: {pod.status.phase}")
            for status in container_statuses(pod):
                lines.append(
                    f"  {status.name}: {describe_container(status)}, "
                    f"restarts {status.restart_count}"
                )
        lines.append("events:")
        for event in kube.events([name])[-15:]:
            lines.append(
                f"  {event.type} {event.reason} {event.involved_object.kind}/"
                f"{event.involved_object.name}: {event.message}"
            )
        if pods:
            lines.append(f"log tail of {container}:")
            lines.append(kube.logs(pods[-1].metadata.name, container, tail_lines))
    except ClusterError as exc:
        lines.append(f"(could not read more: {exc})")
    return "\n".join(lines)
