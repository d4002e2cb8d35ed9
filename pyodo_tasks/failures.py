"""How a failure reaches a person: the one place every front end reports errors through.

Two kinds of failure, two treatments:

* a :class:`~pyodo_tasks.errors.PyodoError` is pyodo saying what is wrong and how to fix it: it is
  shown as its message, ``pyodo: <message>``, and nothing else;
* anything else is a bug in pyodo (or a case it should have named and did not): it is shown as
  one line too, ``pyodo bug: <Type>: <first line> (run with PYODO_DEBUG=1 ... for the
  traceback)``, because a wall of frames tells a user who did nothing wrong that they did.
  The traceback is one switch away: ``PYODO_DEBUG=1`` everywhere, ``--verbose`` where the
  front end has it.

Either way the exit status is 1 (130 after Ctrl-C). The front ends — the CLIs
(:func:`cli_main`), the doit tasks (:mod:`pyodo_tasks.tasks.guard`), the dev loop's threads and
reconcile boundary (:func:`log_bug`, which keeps running after reporting) and the pytest plugin
— call these rather than formatting errors themselves, so the wording and the debug switch are
the same wherever pyodo runs.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import IO, TypeVar

from pyodo_tasks.errors import PyodoError

__all__ = [
    "DEBUG_ENV",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "cli_main",
    "debug_requested",
    "log_bug",
    "report",
    "summary",
]

#: Set to 1 (or true/yes/on) to get the traceback of every failure.
DEBUG_ENV = "PYODO_DEBUG"
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130
#: A bug's one line is cut here: some exception messages carry whole documents.
_MAX_LINE = 300

F = TypeVar("F", bound=Callable[..., int])


def debug_requested(verbose: bool = False, environ: Mapping[str, str] | None = None) -> bool:
    """True when the user asked for tracebacks: ``verbose`` or ``PYODO_DEBUG`` set truthy."""
    value = (os.environ if environ is None else environ).get(DEBUG_ENV, "")
    return verbose or value.strip().lower() in ("1", "true", "yes", "on")


def _first_line(text: str) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 3] + "..."


def summary(exc: BaseException, *, switches: str = "PYODO_DEBUG=1") -> str:
    """The line a user sees for ``exc``; ``switches`` names how to get the traceback."""
    if isinstance(exc, PyodoError):
        return f"pyodo: {exc}"
    if isinstance(exc, KeyboardInterrupt):
        return "pyodo: interrupted"
    what = type(exc).__name__
    detail = _first_line(str(exc))
    shown = f"{what}: {detail}" if detail else what
    return f"pyodo bug: {shown} (run with {switches} for the traceback)"


def report(
    exc: BaseException,
    *,
    verbose: bool = False,
    switches: str = "PYODO_DEBUG=1",
    stream: IO[str] | None = None,
) -> int:
    """Print ``exc`` the way pyodo reports failures; return the exit status for it.

    The traceback is printed (before the line, so the line stays last) only for a bug and only
    when :func:`debug_requested`; pyodo's own errors are complete without one.
    """
    out = sys.stderr if stream is None else stream
    bug = not isinstance(exc, (PyodoError, KeyboardInterrupt))
    if bug and debug_requested(verbose):
        out.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    out.write(summary(exc, switches=switches) + "\n")
    out.flush()
    return EXIT_INTERRUPTED if isinstance(exc, KeyboardInterrupt) else EXIT_FAILURE


def log_bug(logger: logging.Logger, doing: str, exc: BaseException) -> str:
    """Log an unexpected error of a loop that carries on (the dev loop's threads): one warning
    line, the traceback at debug level — or with the warning under ``PYODO_DEBUG=1``. Returns
    the line, for a status."""
    line = summary(exc, switches="PYODO_DEBUG=1 or --verbose")
    if debug_requested():
        logger.warning("%s: %s", doing, line, exc_info=exc)
    else:
        logger.warning("%s: %s", doing, line)
        logger.debug("%s: traceback", doing, exc_info=exc)
    return line


def _verbose_in(argv: Sequence[str] | None) -> bool:
    args = sys.argv[1:] if argv is None else argv
    return any(arg in ("--verbose", "-v") for arg in args)


def cli_main(func: F) -> F:
    """Wrap a CLI's ``main(argv) -> int`` so that no failure leaves it as a traceback.

    argparse's own exits (``--help``, usage errors: status 2) pass through untouched.
    """

    @functools.wraps(func)
    def main(argv: Sequence[str] | None = None) -> int:
        try:
            return func(argv)
        except (Exception, KeyboardInterrupt) as exc:
            return report(exc, verbose=_verbose_in(argv), switches="PYODO_DEBUG=1 or --verbose")

    return main  # type: ignore[return-value]
