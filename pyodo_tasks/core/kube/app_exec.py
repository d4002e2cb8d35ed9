"""The one ``exec()`` signature of the classes that run commands in an app's container.

:class:`~pyodo_tasks.core.running.Running` runs them, :class:`~pyodo_tasks.core.component.
Component` and the plugin's ``DeployedComponent`` pass them on: each says where in
:meth:`AppExec._exec`. A leaf module: the plugin's classes inherit from it without loading the
Kubernetes client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyodo_tasks.core.kube.execs import ExecResult

__all__ = ["AppExec"]


class AppExec:
    """``exec()`` in the app's container, shaped like ``subprocess.run``."""

    def exec(
        self,
        args: Sequence[str],
        *,
        container: str | None = None,
        check: bool = False,
        timeout: float = 60.0,
        input: bytes | None = None,
    ) -> ExecResult:
        """Run a command in the component's container, shaped like ``subprocess.run``."""
        return self._exec(args, container=container, check=check, timeout=timeout, input=input)

    def _exec(self, args: Sequence[str], **options: Any) -> ExecResult:
        """Where :meth:`exec` goes, with all of its keyword arguments."""
        raise NotImplementedError
