"""A one-container app on disk and the engine's :class:`Component` over it with the in-memory
``Kube``: the component, inject and why tests' shared starting point.

The devfile names the component ``app`` and runs ``node server.js`` in ``localhost/app:1``;
:func:`app_devfile` lists its endpoints.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pyodo_tasks.core.component import Component
from tests.fakes.kube import FakeKube

__all__ = ["APP_DEVFILE", "app_devfile", "offline_component", "write_app"]


def app_devfile(*endpoints: str) -> str:
    """The app's devfile with ``endpoints`` (each a YAML flow mapping) on its container."""
    listed = "".join(f"        - {endpoint}\n" for endpoint in endpoints)
    return (
        "schemaVersion: 2.2.0\n"
        "metadata: {name: app}\n"
        "components:\n"
        "  - name: runtime\n"
        "    container:\n"
        "      image: localhost/app:1\n"
        f"      endpoints:\n{listed}"
        "commands:\n"
        "  - id: run\n"
        "    exec: {component: runtime, commandLine: node server.js, group: {kind: run}}\n"
    )


#: One HTTP endpoint on port 3000.
APP_DEVFILE = app_devfile("{name: http, targetPort: 3000}")


def write_app(
    tmp_path: Path, devfile: str = APP_DEVFILE, files: Mapping[str, str] | None = None
) -> Path:
    """``tmp_path/app`` holding ``devfile.yaml`` and ``files`` (relative path -> text)."""
    root = tmp_path / "app"
    root.mkdir()
    (root / "devfile.yaml").write_text(devfile)
    for name, text in (files or {}).items():
        (root / name).write_text(text)
    return root


def offline_component(source: Path, state_dir: Path, kube: FakeKube, **environ: str) -> Component:
    """The :class:`Component` of ``source`` on ``kube``, its state in ``state_dir``, its agent
    off (no runtime to deliver)."""
    return Component(
        source, kube=kube, state_dir=state_dir, environ={"PYODO_AGENT": "off", **environ}
    )
