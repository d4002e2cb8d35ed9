"""Every error pyodo raises on purpose.

One root, so callers can catch everything pyodo means to say with one clause, and specific
subclasses that say what to do next::

    PyodoError
    ├── ConfigError            bad input: a devfile field, an option, an env var
    │   └── DevfileError       carries the file and the field path
    ├── ClusterError           the cluster is unreachable or refused a request
    │   ├── ClusterSetupError  the local test cluster could not be built or booted
    │   └── WaitTimeout        a bounded wait ran out; names what it waited for and the last state
    ├── SyncError              files could not be copied into the container
    ├── DevAlreadyRunning      another ``doit dev`` runs this component against this target
    └── CommandError           a command in the container (build, run) exited non-zero

Messages are one short line that names the file, field or object and the fix. Errors raised
while handling another keep the cause (``raise ... from exc``), never ``from None``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ClusterError",
    "ClusterSetupError",
    "CommandError",
    "ConfigError",
    "DevAlreadyRunning",
    "DevfileError",
    "InitImageUnavailable",
    "PyodoError",
    "RuntimeDeliveryError",
    "SyncError",
    "WaitTimeout",
]


#: Longest problem text a DevfileError shows; a longer one quotes a huge value from the file.
_MAX_PROBLEM = 240


def _one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped (``\\n``)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class PyodoError(Exception):
    """Root of every error pyodo raises on purpose."""


class ConfigError(PyodoError):
    """Bad input from the user: fix the named setting and try again."""


class DevfileError(ConfigError):
    """A devfile is invalid. ``path`` is the file, ``field`` the dotted field path."""

    def __init__(self, path: Path | str, field: str, problem: str, fix: str = "") -> None:
        self.path = Path(path)
        # Both may quote the file (a key, a value): keep the message one short line.
        field, problem = _one_line(field), _one_line(problem)
        if len(problem) > _MAX_PROBLEM:
            problem = problem[: _MAX_PROBLEM - 3] + "..."
        self.field = field
        self.problem = problem
        self.fix = fix
        where = f"{self.path}: {field}" if field else str(self.path)
        message = f"{where}: {problem}"
        if fix:
            message += f" ({fix})"
        super().__init__(message)


class ClusterError(PyodoError):
    """The cluster is unreachable, or refused or failed a request.

    ``status`` is the HTTP status when the API server answered (None when it did not),
    ``reason`` its words, ``retryable`` whether trying again later can help (no answer, 5xx,
    429) as opposed to a refusal that will stand (403, 404, 422: fix the request or the rights).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str = "",
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.retryable = retryable


class InitImageUnavailable(ClusterError):
    """The cluster cannot pull pyodo's init image (the init layout's ``copy-supervisord``).
    Under the ``auto`` layout pyodo then switches to ``inject``; otherwise the message names the
    setting to change."""


class ClusterSetupError(ClusterError):
    """The local test cluster could not be installed, built or booted."""


class WaitTimeout(ClusterError):
    """A bounded wait ran out. ``what`` is what it waited for; ``last_state`` what it last saw."""

    def __init__(self, what: str, timeout: float, last_state: str = "") -> None:
        self.what = what
        self.timeout = timeout
        self.last_state = last_state
        message = f"timed out after {timeout:g}s waiting for {what}"
        if last_state:
            message += f"; last seen: {last_state}"
        super().__init__(message)


class SyncError(PyodoError):
    """Files could not be copied into the container; the local index was left untouched."""


class DevAlreadyRunning(PyodoError):
    """Another ``doit dev`` runs the same component against the same target from this
    machine: two loops would fight over the pod, the status and the forwards."""


class RuntimeDeliveryError(PyodoError):
    """pyodo's in-pod runtime (agent, supervisor) cannot be put into or run in a container:
    an image without ``sh``, a node architecture with no binary, an init image that cannot be
    pulled. The message names the image or setting to change."""


class CommandError(PyodoError):
    """A command in the container exited non-zero. Carries its exit code and output."""

    def __init__(
        self, args: list[str], returncode: int, output: str = "", context: str = ""
    ) -> None:
        self.args_ = list(args)
        self.returncode = returncode
        self.output = output
        where = f" in {context}" if context else ""
        tail = output.strip().splitlines()[-20:]
        message = f"{' '.join(args)!s} exited {returncode}{where}"
        if tail:
            message += ":\n" + "\n".join(tail)
        super().__init__(message)
