"""What pyodo adds to pytest's output: header lines, failure sections, the end-of-run summary.

Plain functions of the plugin's state, so they are tested without a cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyodo_tasks.errors import PyodoError

from .settings import Settings, namespace_name

if TYPE_CHECKING:
    from .session import DeployedComponent

__all__ = ["debug_section", "header_lines", "summary_lines"]

log = logging.getLogger("pytest_pyodo")


def _context(settings: Settings) -> str:
    """The context the session will use, found without contacting the cluster."""
    from pyodo_tasks.cluster import planned_context

    planned = planned_context(settings.cluster)
    if planned is not None:
        return planned
    from pyodo_tasks.core.kube import Target  # the Kubernetes client: only when a header is shown,

    kubeconfig = str(settings.kubeconfig) if settings.kubeconfig else None
    try:
        return Target(kubeconfig=kubeconfig, context=settings.context).resolve().context
    except PyodoError as exc:
        return f"unresolved ({exc})"


def _namespace(settings: Settings, run_id: str, workers: bool) -> str:
    if settings.reuse:
        return f"{settings.namespace or 'the kubeconfig namespace'} (reused, never deleted)"
    if settings.namespace:
        return f"{settings.namespace} (shared; the run's objects deleted by label)"
    end = "kept" if settings.keep else "deleted at the end"
    if workers:
        own = namespace_name(run_id, "<worker>")
        shared = namespace_name(run_id, "shared")
        return f"{shared} (one for all workers; {end}), own copies in {own}"
    return f"{namespace_name(run_id, 'main')} ({end})"


def _with_image(path: Path, rootpath: Path) -> str:
    """``examples/nodejs (image …)``: the app container's image, read from the devfile."""
    from pyodo_tasks.core.devfile import load_devfile

    try:
        image = load_devfile(path).app_container.image
    except PyodoError:
        return _shown(path, rootpath)
    return f"{_shown(path, rootpath)} (image {image})"


def _shown(path: Path, rootpath: Path) -> str:
    try:
        return str(path.relative_to(rootpath))
    except ValueError:
        return str(path)


def header_lines(
    settings: Settings, run_id: str, rootpath: Path, workers: bool = False
) -> list[str]:
    """``pyodo: …`` header lines naming the cluster, context, namespace and components."""
    if not settings.configured:
        return []
    shown = [_with_image(p, rootpath) for p in settings.components]
    components = ", ".join(shown) or "none configured"
    return [
        f"pyodo: cluster {settings.cluster} [{settings.origin.get('cluster', 'default')}], "
        f"context {_context(settings)}",
        f"pyodo: run {run_id}, namespace {_namespace(settings, run_id, workers)}",
        f"pyodo: components {components}",
    ]


def debug_section(handle: DeployedComponent) -> tuple[str, str]:
    """The report section for a failing test that used ``handle``: pod, events, log tail."""
    title = f"pyodo: component {handle.name} in namespace {handle.namespace}"
    try:
        text = handle.debug_report()
    except Exception as exc:  # a report must never hide the test's own failure
        log.debug("debug report of %s failed", handle.name, exc_info=True)
        text = f"(could not collect the debug report: {type(exc).__name__}: {exc})"
    if handle.error is not None:
        text = f"deploy failed: {handle.error}\n{text}"
    return title, text


def _run_lines(report: Mapping[str, Any]) -> Iterable[str]:
    who = f"[{report['worker']}] " if report.get("worker") not in (None, "main") else ""
    for comp in report.get("components", []):
        if comp.get("error"):
            yield f"{who}{comp['name']}: deploy failed: {comp['error']}"
        elif comp.get("push_seconds") is not None:
            how = "attached to" if comp.get("attached") else "deployed"
            where = f"pod/{comp.get('pod')}, image {comp.get('image')}"
            yield (
                f"{who}{how} {comp['name']} in {comp['namespace']} in "
                f"{comp['push_seconds']:.1f}s ({where})"
            )
            if comp.get("verified"):
                yield f"{who}{comp['name']}: {comp['verified']}"
    for line in report.get("cleanup", []):
        yield f"{who}{line}"


def summary_lines(reports: Iterable[Mapping[str, Any]], sweep: Iterable[str] = ()) -> list[str]:
    """The terminal summary: what each session or worker deployed and how it was cleaned up."""
    lines = [line for report in reports for line in _run_lines(report)]
    lines.extend(f"[controller] {line}" for line in sweep)
    return lines
